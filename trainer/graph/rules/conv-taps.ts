// Kernel taps of a Conv: each tap (i,j) sees the padded input shifted by (i*d, j*d) and strided by s. Shared by the
// per-tap dW formulations.

import type { Value } from '../ir.js';
import type { ConvGeometry } from './conv.js';
import { concat, reshape, slice, transpose } from './shape.js';

export interface Tap { i: number; j: number; starts: [number, number]; ends: [number, number] }

export function taps(g: ConvGeometry): Tap[] {
  const out: Tap[] = [];
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const y0 = i * g.dilation[0];
      const x0 = j * g.dilation[1];
      out.push({ i, j, starts: [y0, x0], ends: [y0 + (g.ho - 1) * g.stride[0] + 1, x0 + (g.wo - 1) * g.stride[1] + 1] });
    }
  }
  return out;
}

/** A tap's strided window over spatial axes (a, a+1), skipped when it is the whole tensor. */
export function tapView(xp: Value, t: Tap, g: ConvGeometry, axis: number): Value {
  const whole = t.starts[0] === 0 && t.starts[1] === 0 && t.ends[0] === xp.shape[axis] && t.ends[1] === xp.shape[axis + 1] && g.stride[0] === 1 && g.stride[1] === 1;
  return whole ? xp : slice(xp, t.starts, t.ends, [axis, axis + 1], g.stride);
}

/** [kh*kw] taps of [C,O] -> dW[O,C,kh,kw] */
export function stackTaps(perTap: Value[], g: ConvGeometry): Value {
  const stacked = perTap.length === 1 ? perTap[0]! : concat(perTap.map((t) => reshape(t, [1, g.c, g.o])), 0);
  return transpose(reshape(stacked, [g.kh, g.kw, g.c, g.o]), [3, 2, 0, 1]);
}

