// Max pooling. The forward MaxPool also returns its argmax indices (flat positions in x), so the backward pass is one
// ScatterElements(add) of dY into zeros: no recomputation, and overlapping windows accumulate.
// Ties: ORT's MaxPool keeps the first maximum in window scan order (row-major); that element gets all the gradient.
// Targets without int64 tensors (WebGPU) get the max over the window's strided views instead (maxOfTaps).

import { type Value, sizeOf } from '../ir.js';
import { RuleSet } from '../registry.js';
import { emit } from './util.js';
import { type Pair } from './conv.js';
import { concat, pad, reshape, slice } from './shape.js';
import { reduceMax } from './reduce.js';
import { movesInt64 } from '../target.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const poolRules = new RuleSet();

export interface MaxPoolOptions {
  kernel: Pair;
  stride?: Pair;
  padding?: Pair;
}

const pair = (p: Pair | undefined, dflt: number): [number, number] =>
  p === undefined ? [dflt, dflt] : typeof p === 'number' ? [p, p] : [p[0], p[1]];

/** x[N,C,H,W] -> [N,C,Ho,Wo] */
export function maxPool2d(x: Value, opts: MaxPoolOptions): Value {
  if (x.rank !== 4) throw new Error(`maxPool2d: expected [N,C,H,W], got rank ${x.rank}`);
  const k = pair(opts.kernel, 1);
  const s = pair(opts.stride, k[0]);
  if (opts.stride === undefined) s[1] = k[1];
  const p = pair(opts.padding, 0);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const ho = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const wo = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  if (ho < 1 || wo < 1) throw new Error(`maxPool2d: window ${k.join('x')} does not fit ${h}x${w}`);
  if (!movesInt64(x.graph.target)) return maxOfTaps(x, k, s, p, [ho, wo]);
  const [y] = emit('MaxPool', [x], {
    kernel_shape: { kind: 'ints', value: k },
    strides: { kind: 'ints', value: s },
    pads: { kind: 'ints', value: [p[0], p[1], p[0], p[1]] },
  }, [{ shape: [n, c, ho, wo], dtype: x.dtype }, { shape: [n, c, ho, wo], dtype: 'int64' }]);
  return y!;
}

// y[N,C,Ho,Wo], idx[N,C,Ho,Wo] = maxPool(x[N,C,H,W]): dx = scatter_add(zeros[N*C*H*W], idx, dy) reshaped
poolRules.define('MaxPool', {
  grad: ({ node, dOut: [dy] }) => {
    const x = node.inputs[0]!;
    const idx = node.outputs[1]!;
    const g = x.graph;
    const total = sizeOf(x.shape);
    const zeros = g.constant(x.dtype === 'float64' ? new Float64Array(total) : new Float32Array(total), [total], x.dtype);
    const [flat] = emit('ScatterElements', [zeros, reshape(idx, [idx.size]), reshape(dy!, [dy!.size])], {
      axis: { kind: 'int', value: 0 },
      reduction: { kind: 'string', value: 'add' },
    }, [{ shape: [total], dtype: x.dtype }]);
    return [reshape(flat!, x.shape)];
  },
});

/**
 * y = max over the kh*kw strided views of x padded with -inf: each view [1,N,C,Ho,Wo], concatenated, one ReduceMax.
 * Built from differentiable ops, so the backward needs no int64 indices (ReduceMax's rule, then Slice's and Pad's).
 * Ties share the gradient (ReduceMax's convention) where ORT's MaxPool gives it all to the first maximum; behind a
 * Relu the only likely ties are zeros, whose gradient the Relu drops either way.
 */
function maxOfTaps(x: Value, k: [number, number], s: [number, number], p: [number, number], [ho, wo]: [number, number]): Value {
  const [n, c] = x.shape as [number, number];
  const xp = pad(x, [0, 0, p[0], p[1], 0, 0, p[0], p[1]], -Infinity);
  const taps: Value[] = [];
  for (let i = 0; i < k[0]; i++) {
    for (let j = 0; j < k[1]; j++) {
      const view = slice(xp, [i, j], [i + s[0] * (ho - 1) + 1, j + s[1] * (wo - 1) + 1], [2, 3], s);
      taps.push(reshape(view, [1, n, c, ho, wo]));
    }
  }
  return reduceMax(taps.length === 1 ? taps[0]! : concat(taps, 0), [0], false);
}
