// Finite-difference gradient check used by every rule's test.
//
// The function checked is L(x) = sum(y(x) * R) for a fixed random R, so every output element matters. The analytic
// gradient comes from gradients() run in ORT (float32). The numeric one is a central difference
// (L(x + eps e_k) - L(x - eps e_k)) / 2eps with y computed by ORT in float32 and the sum done in float64 here, so
// the only float32 rounding is in y itself (relative ~6e-8 per element).
// Tolerance: |fd - an| <= atol + rtol * max(|fd|, |an|), default atol 1e-3, rtol 1e-2 with eps 1e-2, chosen so
// float32 rounding (~1e-7 * |L| / eps) and truncation (~eps^2 * L''' / 6) stay well inside it. Inputs should be kept
// at least 2 eps away from kinks (Relu at 0, max ties) unless the point of the test is the kink.

import assert from 'node:assert/strict';
import { Graph } from '../graph.js';
import { gradients } from '../autodiff.js';
import * as op from '../ops.js';
import type { Value } from '../ir.js';
import { TEST_TARGET, compileForTest, randn } from './ort.js';

export interface GradInput {
  shape: readonly number[];
  /** Defaults to uniform [-1, 1). */
  data?: Float32Array;
  /** Fed but not differentiated (e.g. a fixed label tensor). */
  noGrad?: boolean;
}

export interface GradCheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Elements checked per input (evenly spread); all when the input is smaller. */
  maxPoints?: number;
}

export interface GradCheckResult {
  /** Worst |fd - an| / (atol + rtol * max(|fd|, |an|)) seen: <= 1 passes. */
  worst: number;
  analytic: Float32Array[];
}

export async function gradCheck(
  inputs: readonly GradInput[],
  build: (...xs: Value[]) => Value,
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const { eps = 1e-2, atol = 1e-3, rtol = 1e-2, maxPoints = 48 } = options;
  const g = new Graph('gradcheck', TEST_TARGET);
  const xs = inputs.map((inp, i) => g.input(`x${i}`, inp.shape));
  const data = inputs.map((inp, i) => inp.data ?? randn(xs[i]!.size, 101 + 7 * i));
  const y = build(...xs);
  const r = randn(y.size, 9);
  const loss = sumWeighted(y, g.constant(r, y.shape));
  const wrt = xs.filter((_, i) => !inputs[i]!.noGrad);
  const grads = gradients(loss, wrt);
  g.output('y', y);
  grads.forEach((d, i) => g.output(`d${i}`, d));
  const full = await compileForTest(g);
  const forward = await compileForTest(g, ['y']);
  const feeds = (): Record<string, Float32Array> => Object.fromEntries(xs.map((x, i) => [x.name, data[i]!]));
  const an = await full.run(feeds());
  const L = async (): Promise<number> => {
    const out = (await forward.run(feeds()))['y']!;
    let s = 0;
    for (let k = 0; k < out.length; k++) s += out[k]! * r[k]!;
    return s;
  };
  let worst = 0;
  const analytic: Float32Array[] = [];
  for (const [gi, x] of wrt.entries()) {
    const i = xs.indexOf(x);
    const d = an[`d${gi}`] as Float32Array;
    analytic.push(d);
    const buf = data[i]!;
    for (const k of points(buf.length, maxPoints)) {
      const keep = buf[k]!;
      buf[k] = keep + eps;
      const lp = await L();
      buf[k] = keep - eps;
      const lm = await L();
      buf[k] = keep;
      const fd = (lp - lm) / (2 * eps);
      const err = Math.abs(fd - d[k]!) / (atol + rtol * Math.max(Math.abs(fd), Math.abs(d[k]!)));
      worst = Math.max(worst, err);
      assert.ok(err <= 1, `d/d${x.name}[${k}]: analytic ${d[k]} vs central difference ${fd}`);
    }
  }
  return { worst, analytic };
}

function sumWeighted(y: Value, r: Value): Value {
  return op.reduceSum(op.mul(y, r));
}

function points(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.floor(((i + 0.5) * n) / max));
}

/** Values a permutation of -1..1 in steps wider than 2*eps, so no two are within a finite-difference step (no ties). */
export function distinct(n: number, seed: number, spacing = 0.05): Float32Array {
  const order = Array.from(randn(n, seed)).map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Float32Array(n);
  order.forEach(([, i], rank) => (out[i] = (rank - n / 2) * spacing));
  return out;
}

/** Moves values at least `margin` away from zero (for Relu and other kinks at 0). */
export function awayFromZero(xs: Float32Array, margin = 0.05): Float32Array {
  return xs.map((v) => (v >= 0 ? v + margin : v - margin));
}
