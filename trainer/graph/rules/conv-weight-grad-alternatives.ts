// dW formulations that lost on ORT's CPU provider, kept so bench/conv-grad.ts --all can re-measure them (another
// provider, another ORT version) and conv.test.ts checks they agree with the chosen ones.
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

import type { Value } from '../ir.js';
import type { ConvGeometry } from './conv.js';
import { concat, pad, reshape, slice, transpose } from './shape.js';
import { matmul, transposeLast2 } from './matmul.js';
import { reduceSum } from './reduce.js';
import { stackTaps, tapView, taps } from './conv-taps.js';

// stride 1: x[N,C,H,W] -> xp[N, C, Hp*Wp]; dy[N,O,Ho,Wo] -> shifted[N, kh*kw*O, Hp*Wp] -> sum_n shifted @ xp^T
export function shiftDy(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]);
  const [hp, wp] = [xp.shape[2]!, xp.shape[3]!];
  const shifted = taps(g).map((t) => pad(dy, [0, 0, t.starts[0], t.starts[1], 0, 0, hp - g.ho - t.starts[0], wp - g.wo - t.starts[1]]));
  const all = reshape(shifted.length === 1 ? shifted[0]! : concat(shifted, 1), [g.n, shifted.length * g.o, hp * wp]);
  const perImage = matmul(all, transposeLast2(reshape(xp, [g.n, g.c, hp * wp])));
  return transpose(reshape(reduceSum(perImage, [0], false), [g.kh, g.kw, g.o, g.c]), [2, 3, 0, 1]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo]; stride s; Hq = ceil((H + 2p) / s) -> per tap [O,C] = dYgrid[O, L] @ Xphase[C, off:off+L]^T
export function tapsFlat(x: Value, dy: Value, g: ConvGeometry): Value {
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
export function tapsChannelMajor(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = transpose(pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]), [1, 0, 2, 3]);
  const cols = g.n * g.ho * g.wo;
  const dyCols = reshape(transpose(dy, [1, 0, 2, 3]), [g.o, cols]);
  const perTap = taps(g).map((t) => matmul(dyCols, transposeLast2(reshape(tapView(xp, t, g, 2), [g.c, cols]))));
  const stacked = perTap.length === 1 ? perTap[0]! : concat(perTap.map((t) => reshape(t, [1, g.o, g.c])), 0);
  return transpose(reshape(stacked, [g.kh, g.kw, g.o, g.c]), [2, 3, 0, 1]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> per tap [C,O] = Xs[N*Ho*Wo, C]^T @ dY[N*Ho*Wo, O]
export function tapsNhwc(x: Value, dy: Value, g: ConvGeometry): Value {
  const xp = transpose(pad(x, [0, 0, g.pad[0], g.pad[1], 0, 0, g.pad[0], g.pad[1]]), [0, 2, 3, 1]);
  const rows = g.n * g.ho * g.wo;
  const dyRows = reshape(transpose(dy, [0, 2, 3, 1]), [rows, g.o]);
  const perTap = taps(g).map((t) => matmul(transposeLast2(reshape(tapView(xp, t, g, 1), [rows, g.c])), dyRows));
  return stackTaps(perTap, g);
}

