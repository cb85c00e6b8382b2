// Conv gradients as one big GEMM each, for small feature maps where per-op overheads (many small Slices, grouping
// Transposes, ConvTranspose's col2im) cost more than the arithmetic. Both index patches through one precomputed
// (stride-, padding- and dilation-aware) table, patchRowIndex:
//   dW 'im2col-gather' : x in NHWC, one Gather of whole C-channel rows builds cols[N*Ho*Wo, kh*kw*C];
//                        dW = dY^T[O, N*Ho*Wo] @ cols
//   dX 'gemm-col2im'   : cols[N*Ho*Wo, kh*kw*C] = dY^T @ W in one GEMM, then col2im as a batched GEMM with a
//                        constant 0/1 scatter matrix (sums of at most kh*kw terms: exact up to float rounding)
// (Tried and lost, bench/README.md: 'subpixel' dX, a strided ConvTranspose as s*s stride-1 phase Convs +
// DepthToSpace, 0.46-0.55x the forward; col2im in NCHW without the two transposes, 0.65-0.71x; a strided 1x1's dX
// as W^T @ dY placed on the stride grid by a GEMM with a 0/1 matrix, 0.42x, by a broadcast Mul with a 0/1 mask,
// 0.18x, or by zero Pads (one 4-D, or a 2-D then a 3-D), 0.26x, against ConvTranspose's 0.4-0.75x in the same runs.)

import type { Value } from '../ir.js';
import { defineOp } from '../registry.js';
import type { ConvGeometry } from './conv.js';
import { emit1 } from './util.js';
import { pad, reshape, transpose } from './shape.js';
import { matmul } from './matmul.js';
import { reduceSum } from './reduce.js';

// x[N,C,H,W], dy[N,O,Ho,Wo] -> xr[N, H*W+1, C] (last row zero: the padding) -> cols[N, Ho*Wo*k, C] -> dW[O,C,kh,kw]
export function im2colGather(x: Value, dy: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const rows = pad(reshape(transpose(x, [0, 2, 3, 1]), [g.n, g.h * g.w, g.c]), [0, 0, 0, 0, 1, 0]);
  const index = x.graph.constant(patchRowIndex(g), [hw * k], 'int64');
  const cols = emit1('Gather', [rows, index], { axis: { kind: 'int', value: 1 } }, [g.n, hw * k, g.c]);
  // A small dW ([O, k*C]) from one GEMM with a huge K runs on one thread (MLAS splits M and N only): B slices of K
  // then, each its own GEMM, summed.
  const b = g.o * k * g.c < 1 << 16 ? largestDivisorUpTo(g.n, 16) : 1;
  const dyT = reshape(transpose(reshape(dy, [b, g.n / b, g.o, hw]), [0, 2, 1, 3]), [b, g.o, (g.n / b) * hw]);
  const partial = matmul(dyT, reshape(cols, [b, (g.n / b) * hw, k * g.c])); // [B, O, k*C]
  const dw = b === 1 ? reshape(partial, [g.o, k, g.c]) : reshape(reduceSum(partial, [0], false), [g.o, k, g.c]);
  return reshape(transpose(dw, [0, 2, 1]), [g.o, g.c, g.kh, g.kw]);
}

function largestDivisorUpTo(n: number, max: number): number {
  let best = 1;
  for (let d = 1; d <= Math.min(n, max); d++) if (n % d === 0) best = d;
  return best;
}

/** For output pixel p and tap t (p-major), the input row (y*W + x) it reads, or H*W (the zero row) in the padding. */
function patchRowIndex(g: ConvGeometry): BigInt64Array {
  const idx = new BigInt64Array(g.ho * g.wo * g.kh * g.kw);
  let at = 0;
  for (let oy = 0; oy < g.ho; oy++) {
    for (let ox = 0; ox < g.wo; ox++) {
      for (let i = 0; i < g.kh; i++) {
        for (let j = 0; j < g.kw; j++) {
          const y = oy * g.stride[0] - g.pad[0] + i * g.dilation[0];
          const xx = ox * g.stride[1] - g.pad[1] + j * g.dilation[1];
          const inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
          idx[at++] = BigInt(inside ? y * g.w + xx : g.h * g.w);
        }
      }
    }
  }
  return idx;
}

/** Largest patch matrix (N*Ho*Wo x kh*kw*C) either form materializes: 128 MB of float32, freed after its GEMM. */
export const MAX_PATCH_ENTRIES = 1 << 25;
/** Largest scatter matrix (H*W x Ho*Wo*kh*kw entries) 'gemm-col2im' builds: 4 MB of constant, small maps only. */
export const COL2IM_MAX_ENTRIES = 1 << 20;

export function patchesFit(g: ConvGeometry): boolean {
  return g.n * g.ho * g.wo * g.kh * g.kw * g.c <= MAX_PATCH_ENTRIES;
}

export function fitsCol2im(g: ConvGeometry): boolean {
  return g.h * g.w * g.ho * g.wo * g.kh * g.kw <= COL2IM_MAX_ENTRIES;
}

// dy[N,O,Ho,Wo], w[O,C,kh,kw] -> cols[N*Ho*Wo, k*C] = dY^T @ W (one GEMM) -> S[H*W, Ho*Wo*k] @ cols[n] -> dX[N,C,H,W]
export function gemmCol2im(dy: Value, w: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const idx = patchRowIndex(g);
  // col2im as a GEMM with a constant 0/1 matrix: S[r, (p, t)] = 1 where tap t of output pixel p reads input pixel r
  const scatter = new Float32Array(g.h * g.w * hw * k);
  for (let pt = 0; pt < hw * k; pt++) {
    const r = Number(idx[pt]);
    if (r < g.h * g.w) scatter[r * hw * k + pt] = 1;
  }
  const s = w.graph.constant(w.dtype === 'float64' ? Float64Array.from(scatter) : scatter, [g.h * g.w, hw * k], w.dtype);
  const dyRows = reshape(transpose(dy, [0, 2, 3, 1]), [g.n * hw, g.o]);
  const wRows = reshape(transpose(w, [0, 2, 3, 1]), [g.o, k * g.c]);
  const cols = reshape(matmul(dyRows, wRows), [g.n, hw * k, g.c]);
  return transpose(reshape(matmul(s, cols), [g.n, g.h, g.w, g.c]), [0, 3, 1, 2]);
}

// Backward-only ops (emitted inside gradient rules, never differentiated themselves).
defineOp('Gather', {});
