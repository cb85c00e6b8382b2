// im2col by ORT's own Conv kernel: a Conv with a constant one-hot kernel and one group per (image, channel) copies
// every kernel tap's (strided, dilated, padded) view of a map into its own output channel. A grouped Conv with one
// input channel per group stays in NCHW (conv.test.ts checks the optimized graph); ORT's Conv strides and pads for
// free, where its strided Slice is slow. The dW formulations built on it:
//   'im2col-conv'     : patches(x) [N, C*kh*kw, Ho*Wo], one 2-D one-hot Conv (conv-weight-grad.ts does the GEMM)
//   'im2col-conv-sep' : the same patches from a height-shift then a width-shift Conv: kh + kw multiply-adds per
//                       output, not kh*kw (the 7x7 stem: 0.9 + 3.8 ms against 5.8 ms)
//   'rows-cols'       : kernel rows on x, kernel columns on dY (below): kh + kw copies of the maps, not kh*kw

import type { Value } from '../ir.js';
import type { ConvGeometry } from './conv.js';
import { emit1 } from './util.js';
import { MAX_PATCH_ENTRIES } from './conv-gather.js';
import { reshape, transpose } from './shape.js';
import { matmul, transposeLast2 } from './matmul.js';
import { expand, reduceSum } from './reduce.js';

/**
 * [N,C,H,W] -> [1, N*C*kh*kw, Ho, Wo] (image, channel, tap). One group would do the same sums, but ORT then runs it
 * as an NCHWc Conv whose ReorderOutput back to NCHW cost more than the Conv itself (make run's stem: 0.18 + 0.10 ms;
 * a strided 3x3 on 56x56 maps: 4.4 + 5.7 ms vs 9.6 grouped).
 */
export function patches(x: Value, g: ConvGeometry): Value {
  if (g.kh * g.kw === 1 && g.pad[0] === 0 && g.pad[1] === 0) return subsample(x, g);
  return oneHotConv(x, g.n * g.c, [g.h, g.w], [g.kh, g.kw], (t) => t, {
    strides: [...g.stride], dilations: [...g.dilation], pads: [g.pad[0], g.pad[1], g.pad[0], g.pad[1]],
  }, [g.ho, g.wo]);
}

/**
 * A 1x1 kernel's patches: x at the stride's grid points, by a 1x1 MaxPool over [N*C, 1, H, W], which ORT runs in NCHW
 * over all threads. The one-hot Conv has one output per group there, so ORT takes it for a depthwise Conv and runs it
 * in NCHWc behind two reorders of x (ORT's profile, a 1x1 s2 on 64 x 64 x 32x32: 1.3-2.3 against 3.5-4.3 ms).
 */
function subsample(x: Value, g: ConvGeometry): Value {
  const pooled = emit1('MaxPool', [reshape(x, [g.n * g.c, 1, g.h, g.w])], {
    kernel_shape: { kind: 'ints', value: [1, 1] },
    strides: { kind: 'ints', value: [...g.stride] },
  }, [g.n * g.c, 1, g.ho, g.wo]);
  return reshape(pooled, [1, g.n * g.c, g.ho, g.wo]);
}

/**
 * v as [1, groups, h, w] through a grouped Conv whose kernel, per group, is kh*kw one-hot taps: output channel t of
 * each group is the input under kernel position `position(t)` (row-major), i.e. v shifted, strided and padded as
 * `attrs` say. One input channel per group keeps ORT's Conv in NCHW.
 */
function oneHotConv(v: Value, groups: number, [h, w]: [number, number], [kh, kw]: [number, number], position: (t: number) => number,
  attrs: { strides: number[]; dilations: number[]; pads: number[] }, out: [number, number]): Value {
  const k = kh * kw;
  const onehot = new Float32Array(k * k);
  for (let t = 0; t < k; t++) onehot[t * k + position(t)] = 1;
  const one = v.graph.constant(v.dtype === 'float64' ? Float64Array.from(onehot) : onehot, [1, k, 1, kh, kw], v.dtype);
  // ORT folds the Expand into one initializer; the serialized graph keeps the k*k floats.
  const kernel = reshape(expand(one, [groups, k, 1, kh, kw]), [groups * k, 1, kh, kw]);
  return emit1('Conv', [reshape(v, [1, groups, h, w]), kernel], {
    kernel_shape: { kind: 'ints', value: [kh, kw] },
    strides: { kind: 'ints', value: attrs.strides },
    dilations: { kind: 'ints', value: attrs.dilations },
    pads: { kind: 'ints', value: attrs.pads },
    group: { kind: 'int', value: groups },
  }, [1, groups * k, ...out]);
}

/**
 * dW with kernel rows on x and kernel columns on dY (unit stride along the width):
 *   dW[o,c,i,j] = sum_{n,y,x'} Xr_i[n,c,y,x'] * dYs_j[n,o,y,x'],  Xr_i[y,x'] = Xpad[y*s + i*d, x'] (x shifted and
 *   strided in height; full width W), dYs_j[y,x'] = dY[y, x' + p - j*d] (dY shifted in width, zero outside)
 * Each set is one shift Conv: A[N, C*kh, Ho*W], B[N, O*kw, Ho*W]; then [C*kh, O*kw] = sum_n A[n] @ B[n]^T is every tap
 * at once. kh + kw copies of the maps instead of kh*kw, and the GEMM does exactly the Conv's work (a full-width 32x32
 * 3x3: 0.73-0.77x the forward against 'taps-batched' 0.50-0.54x, bench/README.md).
 */
export function rowsCols(x: Value, dy: Value, g: ConvGeometry): Value {
  const hw = g.ho * g.w;
  const rows = shiftConv(x, g.n * g.c, [g.h, g.w], 0, heightTaps(g));
  const left = (g.kw - 1) * g.dilation[1] - g.pad[1];
  const cols = shiftConv(dy, g.n * g.o, [g.ho, g.wo], 1, {
    k: g.kw, dilation: g.dilation[1], stride: 1, before: left, after: g.w - g.wo + g.pad[1], reversed: true,
  });
  const perImage = matmul(reshape(rows, [g.n, g.c * g.kh, hw]), transposeLast2(reshape(cols, [g.n, g.o * g.kw, hw])));
  return transpose(reshape(reduceSum(perImage, [0], false), [g.c, g.kh, g.o, g.kw]), [2, 0, 1, 3]);
}

/** Where rowsCols applies: unit stride along the width (dY's shifts land on x's grid), padding within the kernel. */
export function rowsColsApplies(g: ConvGeometry): boolean {
  return g.stride[1] === 1 && g.pad[1] <= (g.kw - 1) * g.dilation[1] && g.pad[0] <= (g.kh - 1) * g.dilation[0];
}

/** Whether rowsCols' two sets of shifted copies, x's kh and dY's kw, each stay within MAX_PATCH_ENTRIES. */
export function rowsColsFit(g: ConvGeometry): boolean {
  return Math.max(g.c * g.kh, g.o * g.kw) * g.n * g.ho * g.w <= MAX_PATCH_ENTRIES;
}

/** One axis of a one-hot shift Conv: taps k at this dilation and stride, zero padding before/after. */
interface Shift { k: number; dilation: number; stride: number; before: number; after: number; reversed?: boolean }

/** The Conv's kernel rows as shifts of its input along the height (strided, padded as the Conv is). */
function heightTaps(g: ConvGeometry): Shift {
  return { k: g.kh, dilation: g.dilation[0], stride: g.stride[0], before: g.pad[0], after: g.pad[0] };
}

/**
 * v[G, H, W] as [1, G, H, W] -> [1, G*k, H', W']: output channel t of each group is v shifted along `axis` (0: height,
 * 1: width) by t*dilation - before (strided), zero where it leaves the map; `reversed` numbers the taps k-1..0 (dY's
 * width shifts in rowsCols move by p - j*d).
 */
function shiftConv(v: Value, groups: number, [h, w]: [number, number], axis: 0 | 1, s: Shift): Value {
  const along = (len: number): number => Math.floor((len + s.before + s.after - (s.k - 1) * s.dilation - 1) / s.stride) + 1;
  const pair = (a: number, b: number): [number, number] => (axis === 0 ? [a, b] : [b, a]);
  return oneHotConv(v, groups, [h, w], pair(s.k, 1), (t) => (s.reversed ? s.k - 1 - t : t), {
    strides: pair(s.stride, 1), dilations: pair(s.dilation, 1),
    pads: axis === 0 ? [s.before, 0, s.after, 0] : [0, s.before, 0, s.after],
  }, axis === 0 ? [along(h), w] : [h, along(w)]);
}

/** x[N,C,H,W] -> [N, C*kh*kw, Ho*Wo]: the im2col-conv patches, as a height-shift Conv and then a width-shift Conv. */
export function separablePatches(x: Value, g: ConvGeometry): Value {
  const rows = shiftConv(x, g.n * g.c, [g.h, g.w], 0, heightTaps(g));
  const cols = shiftConv(rows, g.n * g.c * g.kh, [g.ho, g.w], 1, {
    k: g.kw, dilation: g.dilation[1], stride: g.stride[1], before: g.pad[1], after: g.pad[1],
  });
  return reshape(cols, [g.n, g.c * g.kh * g.kw, g.ho * g.wo]);
}
