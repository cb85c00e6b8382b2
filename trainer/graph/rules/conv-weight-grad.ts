// dW of a Conv: dW[o,c,i,j] = sum_{n,y,x} dY[n,o,y,x] * Xpad[n,c, i*d + y*s, j*d + x*s].
//
// Why not the textbook "Conv with the activations as kernel": on ORT's CPU provider that Conv has a huge kernel and
// tiny output, which its im2col+GEMM path runs 2-4x slower than the forward Conv (DESIGN.md). The work is moved into
// MLAS's sgemm instead, in the form bench/conv-grad.ts measured fastest for each layer geometry:
//   'im2col-gather-cm': small maps: x transposed channel-major ([C, H*W, N]), one Gather of patch rows by a
//                    precomputed index, one GEMM patches[C*k, Ho*Wo*N] @ dY^T (conv-gather.ts)
//   'im2col-gather': the same patches in NHWC rows, dW = dY^T @ patches: the big matrix as MLAS's B, which it
//                    repacks, 1.2-1.3x slower (kept for the benchmark)
//   'taps-batched' : per kernel tap one unit-step Slice of the padded input and one GEMM batched over groups of
//                    images  Xs[B, C, G*Ho*Wo] @ dY^T[B, G*Ho*Wo, O], summed over B (DESIGN.md's nine-MatMul form)
//   'im2col-conv'  : im2col done by ORT's own (stride- and padding-aware) Conv kernel: x as [1, N*C, H, W] against
//                    a constant one-hot kernel, one group per (image, channel), gives cols[N, C*kh*kw, Ho*Wo]; one
//                    GEMM batched over N, dY[N, O, Ho*Wo] @ cols^T, summed over N, is dW[O, C*kh*kw] in its final
//                    layout
//   'conv'         : the textbook reference
// and four that lost (conv-weight-grad-alternatives.ts).

import type { Value } from '../ir.js';
import { emit1 } from './util.js';
import type { ConvGeometry } from './conv.js';
import { pad, reshape, slice, transpose } from './shape.js';
import { matmul, transposeLast2 } from './matmul.js';
import { expand, reduceSum } from './reduce.js';
import { stackTaps, tapView, taps } from './conv-taps.js';
import { im2colGather, im2colGatherChannelMajor, patchesFit } from './conv-gather.js';
import { shiftDy, tapsChannelMajor, tapsFlat, tapsNhwc } from './conv-weight-grad-alternatives.js';

export type WeightGradMethod = 'auto' | 'im2col-gather' | 'im2col-gather-cm' | 'shift-dy' | 'im2col-conv' | 'taps-flat' | 'taps-cn' | 'taps-nhwc' | 'taps-batched' | 'conv';

export const weightGradConfig: { method: WeightGradMethod } = { method: 'auto' };

/** What the choice may know beyond the layer's geometry. */
export interface WeightGradContext {
  /**
   * Another Conv on the same input takes 'im2col-gather-cm' (ResNet's downsampling block: its 3x3 and its 1x1
   * shortcut read the block input). Both dWs then build the same transposed copy of x and ORT's common-subexpression
   * pass keeps one: what is left of this dW is a Gather, a transpose of dY and the GEMM.
   */
  sharesTransposedInput?: boolean;
}

/**
 * The formulation bench/conv-grad.ts measured fastest for a geometry (bench/README.md has the numbers):
 * kernels > 1x1 over >= 8 channels with small outputs (Ho*Wo <= 256): 'im2col-gather-cm' (one Gather of patches in
 * channel-major order + one GEMM; its patch matrix is kh*kw times the layer's output map, so larger maps and patch
 * matrices over 128 MB keep the forms below; under 8 channels its transpose of dY costs more than the GEMM saves:
 * 0.29-0.39x on 1- and 3-channel 3x3 stems, where 'im2col-conv' runs 0.57-0.66x), as is a 1x1 onto maps
 * of <= 8x8 whose input such a dW already transposes (context; on 16x16 outputs 'taps-batched' measured ahead of
 * it, 0.57x against 0.47x the forward); a 1x1 kernel, or stride 1
 * with >= 16 input channels: 'taps-batched' (at most kh*kw unit-step slices, GEMMs batched over groups of images);
 * larger kernels with stride > 1, and 3-channel stems: 'im2col-conv' (ORT's strided Slice is slow, its Conv kernel
 * strides for free, and few channels make the per-tap GEMMs too thin); except a thin stem with a big kernel (7x7 on
 * RGB): 'im2col-gather-cm' where its patches fit (0.55-0.62x the forward against the textbook Conv form's 0.49-0.59x),
 * else that Conv form.
 */
export function chooseWeightGradMethod(g: ConvGeometry, context: WeightGradContext = {}): Exclude<WeightGradMethod, 'auto'> {
  const unitStride = g.stride[0] === 1 && g.stride[1] === 1;
  const k = g.kh * g.kw;
  if (g.c < 16 && k >= 25) return patchesFit(g) ? 'im2col-gather-cm' : 'conv';
  if (k > 1 && g.c >= 8 && g.ho * g.wo <= 256 && patchesFit(g)) return 'im2col-gather-cm';
  if (context.sharesTransposedInput && k === 1 && g.ho * g.wo <= 64 && patchesFit(g)) return 'im2col-gather-cm';
  return k === 1 || (unitStride && g.c >= 16) ? 'taps-batched' : 'im2col-conv';
}

export function convWeightGrad(x: Value, dy: Value, g: ConvGeometry, method: WeightGradMethod = weightGradConfig.method, context: WeightGradContext = {}): Value {
  switch (method) {
    case 'auto': return convWeightGrad(x, dy, g, chooseWeightGradMethod(g, context));
    case 'im2col-conv': return im2colConv(x, dy, g);
    case 'im2col-gather': return im2colGather(x, dy, g);
    case 'im2col-gather-cm': return im2colGatherChannelMajor(x, dy, g);
    case 'shift-dy': return g.stride[0] === 1 && g.stride[1] === 1 ? shiftDy(x, dy, g) : im2colConv(x, dy, g);
    case 'taps-flat': return tapsFlat(x, dy, g);
    case 'taps-cn': return tapsChannelMajor(x, dy, g);
    case 'taps-nhwc': return tapsNhwc(x, dy, g);
    case 'taps-batched': return tapsBatched(x, dy, g);
    case 'conv': return asConv(x, dy, g);
  }
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> per tap [C,O] = sum_b Xs[b, C, G*Ho*Wo] @ dY^T[b, G*Ho*Wo, O], b over N/G groups of
// G images: small feature maps get G > 1 (one cheap transpose of x and dy) so each GEMM's K is ~1024, not Ho*Wo.
function tapsBatched(x: Value, dy: Value, g: ConvGeometry): Value {
  const hw = g.ho * g.wo;
  const group = imagesPerGemm(g, hw);
  const b = g.n / group;
  const xp = pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]);
  const [hp, wp] = [xp.shape[2]!, xp.shape[3]!];
  // [N,C,Hp,Wp] -> [B, C, G, Hp, Wp]: a tap's slice is then [B, C, G*Ho*Wo] after a reshape
  const xg = group === 1 ? xp : reshape(groupImages(reshape(xp, [g.n, g.c, hp * wp]), group), [b, g.c, group, hp, wp]);
  const dyg = group === 1 ? reshape(dy, [b, g.o, hw]) : groupImages(reshape(dy, [g.n, g.o, hw]), group);
  const dyT = transpose(dyg, [0, 2, 1]);
  const spatial = xg.rank - 2;
  const perTap = taps(g).map((t) => reduceSum(matmul(reshape(tapView(xg, t, g, spatial), [b, g.c, group * hw]), dyT), [0], false));
  return stackTaps(perTap, g);
}

/** [N, R, L] -> [N/G, R, G*L]: G images side by side along the GEMM's K axis (a rank-4 Transpose, ORT's fast path). */
function groupImages(v: Value, group: number): Value {
  const [n, r, l] = v.shape as [number, number, number];
  return reshape(transpose(reshape(v, [n / group, group, r, l]), [0, 2, 1, 3]), [n / group, r, group * l]);
}

/**
 * Images per GEMM. Per-image GEMMs over small feature maps make [N, O, C] products (per tap) far bigger than their
 * inputs, all to be summed over N; when kh*kw*O > Ho*Wo, G images go side by side along K instead (the largest
 * divisor of N with G*Ho*Wo <= 1024), at the price of one rank-4 transpose of x and dY.
 */
export function imagesPerGemm(g: ConvGeometry, hw: number): number {
  if (g.kh * g.kw * g.o <= hw) return 1;
  let best = 1;
  for (let size = 1; size <= g.n && size * hw <= 1024; size++) if (g.n % size === 0) best = size;
  return best;
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> cols[N, C*kh*kw, Ho*Wo] -> sum over groups b of dY[b] @ cols[b]^T = dW[O, C*kh*kw]
function im2colConv(x: Value, dy: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const pointwise = k === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.pad[0] === 0 && g.pad[1] === 0;
  const cols = pointwise ? reshape(x, [g.n, g.c, hw]) : reshape(patches(x, g), [g.n, g.c * k, hw]);
  // Grouping transposes the k-times-larger cols here, so only tiny maps (where [N, O, C*k] products explode) get it.
  const group = hw < 128 ? imagesPerGemm(g, hw) : 1;
  const [colsG, dyG] = group === 1 ? [cols, reshape(dy, [g.n, g.o, hw])] : [groupImages(cols, group), groupImages(reshape(dy, [g.n, g.o, hw]), group)];
  const perGroup = matmul(dyG, transposeLast2(colsG));
  return reshape(reduceSum(perGroup, [0], false), [g.o, g.c, g.kh, g.kw]);
}

/**
 * [N,C,H,W] -> [1, N*C*kh*kw, Ho, Wo] (image, channel, tap): every kernel tap's (strided, dilated, padded) view, via
 * a one-hot Conv with one group per (image, channel). One group would do the same sums, but ORT then runs it as an
 * NCHWc Conv whose ReorderOutput back to NCHW cost more than the Conv itself (make run's stem: 0.18 + 0.10 ms; a
 * strided 3x3 on 56x56 maps: 4.4 + 5.7 ms vs 9.6 grouped); a grouped Conv with one input channel per group stays in
 * NCHW (conv.test.ts checks the optimized graph).
 */
function patches(x: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const groups = g.n * g.c;
  const onehot = new Float32Array(k * k);
  for (let t = 0; t < k; t++) onehot[t * k + t] = 1;
  const tapKernel = x.graph.constant(x.dtype === 'float64' ? Float64Array.from(onehot) : onehot, [1, k, 1, g.kh, g.kw], x.dtype);
  // ORT folds the Expand into one initializer; the serialized graph keeps the k*k floats.
  const kernel = reshape(expand(tapKernel, [groups, k, 1, g.kh, g.kw]), [groups * k, 1, g.kh, g.kw]);
  return emit1('Conv', [reshape(x, [1, groups, g.h, g.w]), kernel], {
    kernel_shape: { kind: 'ints', value: [g.kh, g.kw] },
    strides: { kind: 'ints', value: [...g.stride] },
    dilations: { kind: 'ints', value: [...g.dilation] },
    pads: { kind: 'ints', value: [g.pad[0], g.pad[1], g.pad[0], g.pad[1]] },
    group: { kind: 'int', value: groups },
  }, [1, groups * k, g.ho, g.wo]);
}

// The reference: a Conv over x^T[C,N,H,W] with kernel dy^T[O,N,Ho,Wo]; forward stride becomes dilation and vice versa.
function asConv(x: Value, dy: Value, g: ConvGeometry): Value {
  const xt = transpose(x, [1, 0, 2, 3]);
  const dyt = transpose(dy, [1, 0, 2, 3]);
  const size = (i: 0 | 1, len: number, out: number): number =>
    Math.floor((len + 2 * g.pad[i] - g.stride[i] * (out - 1) - 1) / g.dilation[i]) + 1;
  const kh = size(0, g.h, g.ho);
  const kw = size(1, g.w, g.wo);
  const full = emit1('Conv', [xt, dyt], {
    kernel_shape: { kind: 'ints', value: [g.ho, g.wo] },
    strides: { kind: 'ints', value: [...g.dilation] },
    dilations: { kind: 'ints', value: [...g.stride] },
    pads: { kind: 'ints', value: [g.pad[0], g.pad[1], g.pad[0], g.pad[1]] },
  }, [g.c, g.o, kh, kw]);
  const cut = kh === g.kh && kw === g.kw ? full : slice(full, [0, 0], [g.kh, g.kw], [2, 3]);
  return transpose(cut, [1, 0, 2, 3]);
}
