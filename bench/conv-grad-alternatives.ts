// dW formulations that lost on ORT's CPU provider (bench/README.md, conv-grad.ts), kept here so `conv-grad.ts --all`
// can re-measure them (another provider, another ORT version); it checks each against the textbook Conv form first.
//   'shift-dy'  : stride 1 only. Instead of shifting x per tap, place dY at every tap's offset in the padded grid
//                 (kh*kw Pads of dY, concatenated: [N, kh*kw*O, Hp*Wp]); then ONE batched GEMM with the padded
//                 x[N, C, Hp*Wp] gives every tap at once. Costs (Hp*Wp)/(Ho*Wo) - 1 extra GEMM work.
//   'taps-flat' : no strided slices at all (ORT's strided Slice costs ~10x a memcpy). One Transpose puts X in
//                 [phase, C, N*Hq*Wq] (phases of the stride, each a [Hq, Wq] grid); dY is padded onto the same grid.
//                 A tap is then a contiguous column range of one phase, and dW_tap[O,C] = dYgrid[O, L] @
//                 Xphase[C, off : off+L]^T. Grid positions where dY is zero absorb the row wrap-around.
//   'taps-cn'   : X and dY transposed to [C|O, N, H, W] once; per tap one GEMM  dY[O, N*Ho*Wo] @ Xs[C, N*Ho*Wo]^T
//                 (one GEMM with a huge K: MLAS cannot split K across threads).
//   'taps-nhwc' : X and dY transposed to NHWC once; per tap one GEMM  Xs[N*Ho*Wo, C]^T @ dY[N*Ho*Wo, O]
//   'taps-flat-batched': stride 1; 'taps-batched' with each tap a contiguous range of the image's flattened padded
//                 rows (no strided Slice; dY padded to the padded width): 1.7x taps-batched's time on a full-width
//                 32x32 layer, its contiguous Slices no faster (ORT's Slice is bound by memory either way) and its
//                 GEMMs slower for the explicit transpose of dY

import type { Value } from '../trainer/graph/index.js';
import type { ConvGeometry } from '../trainer/graph/rules/conv.js';
import { imagesPerGemm } from '../trainer/graph/rules/conv-weight-grad.js';
import { concat, pad, reshape, slice, transpose } from '../trainer/graph/rules/shape.js';
import { matmul, transposeLast2 } from '../trainer/graph/rules/matmul.js';
import { reduceSum } from '../trainer/graph/rules/reduce.js';
import { stackTaps, tapView, taps } from '../trainer/graph/rules/conv-taps.js';

export const ALTERNATIVE_WEIGHT_GRADS = ['shift-dy', 'taps-flat', 'taps-cn', 'taps-nhwc', 'taps-flat-batched'] as const;
export type AlternativeWeightGrad = (typeof ALTERNATIVE_WEIGHT_GRADS)[number];

/** Whether the form applies to the layer ('shift-dy' and 'taps-flat-batched' are stride 1 only). */
export function alternativeApplies(method: AlternativeWeightGrad, g: ConvGeometry): boolean {
  const unitStride = g.stride[0] === 1 && g.stride[1] === 1;
  return unitStride || (method !== 'shift-dy' && method !== 'taps-flat-batched');
}

export function alternativeWeightGrad(method: AlternativeWeightGrad, x: Value, dy: Value, g: ConvGeometry): Value {
  switch (method) {
    case 'shift-dy': return shiftDy(x, dy, g);
    case 'taps-flat': return tapsFlat(x, dy, g);
    case 'taps-cn': return tapsChannelMajor(x, dy, g);
    case 'taps-nhwc': return tapsNhwc(x, dy, g);
    case 'taps-flat-batched': return tapsFlatBatched(x, dy, g, imagesPerGemm(g, g.ho * g.wo));
  }
}

// stride 1: x[N,C,H,W] -> xp[N, C, Hp*Wp]; dy[N,O,Ho,Wo] -> shifted[N, kh*kw*O, Hp*Wp] -> sum_n shifted @ xp^T
function shiftDy(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]);
  const [hp, wp] = [xp.shape[2]!, xp.shape[3]!];
  const shifted = taps(g).map((t) => pad(dy, [0, 0, t.starts[0], t.starts[1], 0, 0, hp - g.ho - t.starts[0], wp - g.wo - t.starts[1]]));
  const all = reshape(shifted.length === 1 ? shifted[0]! : concat(shifted, 1), [g.n, shifted.length * g.o, hp * wp]);
  const perImage = matmul(all, transposeLast2(reshape(xp, [g.n, g.c, hp * wp])));
  return transpose(reshape(reduceSum(perImage, [0], false), [g.kh, g.kw, g.o, g.c]), [2, 3, 0, 1]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo]; stride s; Hq = ceil((H + 2p) / s) -> per tap [O,C] = dYgrid[O, L] @ Xphase[C, off:off+L]^T
function tapsFlat(x: Value, dy: Value, g: ConvGeometry): Value {
  const [sh, sw] = g.stride;
  const hq = Math.ceil((g.h + 2 * g.pad[0]) / sh);
  const wq = Math.ceil((g.w + 2 * g.pad[1]) / sw);
  const grid = g.n * hq * wq;
  // padded (and rounded up to whole phases) x[N,C,hq*sh,wq*sw] -> phases [sh*sw, C, N*hq*wq] in one Transpose
  const xp = pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, hq * sh - g.h - g.pad[0], wq * sw - g.w - g.pad[1]]);
  const phases = reshape(transpose(reshape(xp, [g.n, g.c, hq, sh, wq, sw]), [3, 5, 1, 0, 2, 4]), [sh * sw, g.c, grid]);
  const tapList = taps(g).map((t) => {
    const [ri, rj] = [t.starts[0] % sh, t.starts[1] % sw];
    return { phase: ri * sw + rj, offset: Math.floor(t.starts[0] / sh) * wq + Math.floor(t.starts[1] / sw) };
  });
  const len = grid - Math.max(...tapList.map((t) => t.offset));
  const dyGrid = reshape(transpose(pad(dy, [0, 0, 0, 0, 0, 0, hq - g.ho, wq - g.wo]), [1, 0, 2, 3]), [g.o, grid]);
  const dyCols = len === grid ? dyGrid : slice(dyGrid, [0], [len], [1]);
  const perTap = tapList.map((t) => {
    const whole = sh * sw === 1 && len === grid;
    const ph = whole ? reshape(phases, [g.c, grid]) : slice(phases, [t.phase, t.offset], [t.phase + 1, t.offset + len], [0, 2]);
    return matmul(dyCols, transposeLast2(reshape(ph, [g.c, len])));
  });
  const stacked = perTap.length === 1 ? perTap[0]! : concat(perTap.map((t) => reshape(t, [1, g.o, g.c])), 0);
  return transpose(reshape(stacked, [g.kh, g.kw, g.o, g.c]), [2, 3, 0, 1]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> per tap [O,C] = dY[O, N*Ho*Wo] @ Xs[C, N*Ho*Wo]^T (ORT fuses the transpose into
// the GEMM, and a slice of [C,N,Hp,Wp] is already the contiguous [C, N*Ho*Wo] the GEMM reads)
function tapsChannelMajor(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = transpose(pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]), [1, 0, 2, 3]);
  const cols = g.n * g.ho * g.wo;
  const dyCols = reshape(transpose(dy, [1, 0, 2, 3]), [g.o, cols]);
  const perTap = taps(g).map((t) => matmul(dyCols, transposeLast2(reshape(tapView(xp, t, g, 2), [g.c, cols]))));
  const stacked = perTap.length === 1 ? perTap[0]! : concat(perTap.map((t) => reshape(t, [1, g.o, g.c])), 0);
  return transpose(reshape(stacked, [g.kh, g.kw, g.o, g.c]), [2, 3, 0, 1]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> per tap [C,O] = Xs[N*Ho*Wo, C]^T @ dY[N*Ho*Wo, O]
function tapsNhwc(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = transpose(pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]), [0, 2, 3, 1]);
  const rows = g.n * g.ho * g.wo;
  const dyRows = reshape(transpose(dy, [0, 2, 3, 1]), [rows, g.o]);
  const perTap = taps(g).map((t) => matmul(transposeLast2(reshape(tapView(xp, t, g, 1), [rows, g.c])), dyRows));
  return stackTaps(perTap, g);
}


// stride 1: x padded and flattened per image, [N, C, Hp*Wp + (kw-1)*d]; dY padded on the right to width Wp. A tap is
// then one contiguous range of each image's row, off = i*d*Wp + j*d, L = Ho*Wp long (columns past Wo meet dY's zeros):
// per tap [C,O] = sum_b Xs[b, C, G*L] @ dYp^T[b, G*L, O]
function tapsFlatBatched(x: Value, dy: Value, g: ConvGeometry, group: number): Value {
  const wp = g.w + 2 * g.pad[1];
  const hp = g.h + 2 * g.pad[0];
  const tail = (g.kw - 1) * g.dilation[1];
  const len = g.ho * wp;
  const b = g.n / group;
  const xp = pad(reshape(pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]), [g.n, g.c, hp * wp]), [0, 0, 0, 0, 0, tail]);
  const xg = reshape(xp, [b, group, g.c, hp * wp + tail]);
  const dyp = reshape(pad(dy, [0, 0, 0, 0, 0, 0, 0, wp - g.wo]), [b, group, g.o, len]);
  const dyT = reshape(transpose(dyp, [0, 1, 3, 2]), [b, group * len, g.o]);
  const perTap = taps(g).map((t) => {
    const off = t.starts[0] * wp + t.starts[1];
    const xs = transpose(slice(xg, [off], [off + len], [3]), [0, 2, 1, 3]);
    return reduceSum(matmul(reshape(xs, [b, g.c, group * len]), dyT), [0], false);
  });
  return stackTaps(perTap, g);
}
