// dW of a Conv: dW[o,c,i,j] = sum_{n,y,x} dY[n,o,y,x] * Xpad[n,c, i*d + y*s, j*d + x*s].
//
// Why not the textbook "Conv with the activations as kernel": on ORT's CPU provider that Conv has a huge kernel and
// tiny output, which its im2col+GEMM path runs 2-4x slower than the forward Conv (bench/README.md, conv-grad.ts). The work is moved into
// MLAS's sgemm instead, in the form bench/conv-grad.ts measured fastest for each layer geometry:
//   'im2col-gather-cm': small maps: x transposed channel-major ([C, H*W, N]), one Gather of patch rows by a
//                    precomputed index, one GEMM patches[C*k, Ho*Wo*N] @ dY^T (conv-gather.ts)
//   'im2col-gather': the same patches in NHWC rows, dW = dY^T @ patches: the big matrix as MLAS's B, which it
//                    repacks, 1.2-1.3x slower (kept for the benchmark)
//   'taps-batched' : per kernel tap one unit-step Slice of the padded input and one GEMM batched over groups of
//                    images  Xs[B, C, G*Ho*Wo] @ dY^T[B, G*Ho*Wo, O], summed over B (nine MatMuls for a 3x3)
//   'im2col-conv'  : im2col done by ORT's own (stride- and padding-aware) Conv kernel: x as [1, N*C, H, W] against
//                    a constant one-hot kernel, one group per (image, channel) (for a strided 1x1, a 1x1 MaxPool),
//                    gives cols[N, C*kh*kw, Ho*Wo]; one GEMM batched over N, dY[N, O, Ho*Wo] @ cols^T, summed over
//                    N, is dW[O, C*kh*kw] in its final layout ('im2col-conv-sep': the same cols from a height-shift
//                    and a width-shift Conv)
//   'rows-cols'    : kernel rows as shifted copies of x, kernel columns as shifted copies of dY (one shift Conv
//                    each), one GEMM batched over N gives every tap at once (conv-onehot.ts)
//   'conv'         : the textbook reference
// and five that lost, kept in bench/conv-grad-alternatives.ts.

import type { Value } from '../ir.js';
import type { KernelTarget } from '../target.js';
import { emit1 } from './util.js';
import type { ConvGeometry } from './conv.js';
import { pad, reshape, slice, transpose } from './shape.js';
import { matmul, transposeLast2 } from './matmul.js';
import { reduceSum } from './reduce.js';
import { stackTaps, tapView, taps } from './conv-taps.js';
import { im2colGather, im2colGatherChannelMajor, imageGroups, patchesFit } from './conv-gather.js';
import { patches, rowsCols, rowsColsApplies, rowsColsFit, separablePatches } from './conv-onehot.js';

export type WeightGradMethod = 'auto' | 'im2col-gather' | 'im2col-gather-cm' | 'im2col-conv' | 'taps-batched' | 'rows-cols' | 'im2col-conv-sep' | 'conv';

/** What the choice may know beyond the layer's geometry. */
export interface WeightGradContext {
  /**
   * The geometry of another Conv on the same input whose dW is 'im2col-gather-cm' (ResNet's downsampling block: its
   * 3x3 and its 1x1 shortcut read the block input). This dW, built the same way with the same image groups, then
   * emits the same transposed copy of x and ORT's common-subexpression pass keeps one: what is left of it is a
   * Gather, a transpose of dY and the GEMM.
   */
  transposedBy?: ConvGeometry;
}

/**
 * The formulation bench/conv-grad.ts measured fastest for a geometry (bench/README.md has the numbers):
 * - a big kernel on a thin stem (7x7 on RGB): 'im2col-conv-sep' where its patches fit (0.47-0.51x the forward against
 *   'im2col-gather-cm' 0.33-0.39x and the textbook Conv form 0.44-0.45x), else that Conv form;
 * - stride 1, kernels > 1x1 over >= 16 channels onto maps of >= 16x16: 'rows-cols' (0.73-0.77x on a full-width 32x32
 *   layer against 'taps-batched' 0.50-0.54x; 0.55-0.59x on make run's layer1 against 'im2col-gather-cm' 0.46-0.49x,
 *   a tie since that groups its images, 0.56-0.59 against 0.56-0.58; on 8x8 maps it falls behind, 0.55-0.56x against
 *   0.69-0.73x);
 * - other kernels > 1x1 over >= 8 channels with small outputs (Ho*Wo <= 256): 'im2col-gather-cm' (one Gather of
 *   patches in channel-major order + one GEMM per group of images; its patch matrix is kh*kw times the layer's
 *   output map, so larger maps and patch matrices over 128 MB keep the forms below; under 8 channels its transpose
 *   of dY costs more than the GEMM saves: 0.29-0.39x on 1- and 3-channel 3x3 stems, where 'im2col-conv' runs 0.57-0.66x), as is a 1x1 onto maps
 *   of <= 8x8 whose input such a dW already transposes (context);
 * - a stride-1 1x1, or stride 1 with >= 16 input channels: 'taps-batched' (at most kh*kw unit-step slices, GEMMs
 *   batched over groups of images);
 * - strided kernels (1x1 shortcuts included: 0.49-0.56x against 'taps-batched' 0.43-0.48x) and thin stems:
 *   'im2col-conv' (ORT's strided Slice is slow, its Conv kernel strides for free, and few channels make per-tap GEMMs
 *   too thin).
 * A device provider gets the textbook Conv form: one Conv kernel of its own (cuDNN's forward on CUDA) and none of
 * the forms above, which were timed on ORT's CPU kernels only (one-hot Convs with N*C groups, Gathers of patches).
 */
export function chooseWeightGradMethod(g: ConvGeometry, context: WeightGradContext = {}, target: KernelTarget = 'cpu'): Exclude<WeightGradMethod, 'auto'> {
  if (target !== 'cpu') return 'conv';
  const unitStride = g.stride[0] === 1 && g.stride[1] === 1;
  const k = g.kh * g.kw;
  if (g.c < 16 && k >= 25) return patchesFit(g) ? 'im2col-conv-sep' : 'conv';
  if (k > 1 && unitStride && g.c >= 16 && g.ho * g.wo >= 256 && rowsColsApplies(g) && rowsColsFit(g)) return 'rows-cols';
  if (k > 1 && g.c >= 8 && g.ho * g.wo <= 256 && patchesFit(g)) return 'im2col-gather-cm';
  if (context.transposedBy && k === 1 && g.ho * g.wo <= 64 && patchesFit(g)) return 'im2col-gather-cm';
  return unitStride && (k === 1 || g.c >= 16) ? 'taps-batched' : 'im2col-conv';
}

export function convWeightGrad(x: Value, dy: Value, g: ConvGeometry, method: WeightGradMethod = 'auto', context: WeightGradContext = {}): Value {
  switch (method) {
    case 'auto': return convWeightGrad(x, dy, g, chooseWeightGradMethod(g, context, x.graph.target), context);
    case 'im2col-conv': return im2colConv(x, dy, g);
    case 'im2col-conv-sep': return im2colConv(x, dy, g, true);
    case 'im2col-gather': return im2colGather(x, dy, g);
    case 'im2col-gather-cm': return im2colGatherChannelMajor(x, dy, g, imageGroups(context.transposedBy ?? g));
    case 'taps-batched': return tapsBatched(x, dy, g);
    case 'rows-cols': return rowsColsApplies(g) ? rowsCols(x, dy, g) : im2colConv(x, dy, g);
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
function im2colConv(x: Value, dy: Value, g: ConvGeometry, separable = false): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const pointwise = k === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.pad[0] === 0 && g.pad[1] === 0;
  const cols = pointwise ? reshape(x, [g.n, g.c, hw]) : separable ? separablePatches(x, g) : reshape(patches(x, g), [g.n, g.c * k, hw]);
  // Grouping transposes the k-times-larger cols here, so only tiny maps (where [N, O, C*k] products explode) get it.
  const group = hw < 128 ? imagesPerGemm(g, hw) : 1;
  const [colsG, dyG] = group === 1 ? [cols, reshape(dy, [g.n, g.o, hw])] : [groupImages(cols, group), groupImages(reshape(dy, [g.n, g.o, hw]), group)];
  const perGroup = matmul(dyG, transposeLast2(colsG));
  return reshape(reduceSum(perGroup, [0], false), [g.o, g.c, g.kh, g.kw]);
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
