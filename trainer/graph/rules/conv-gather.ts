// Conv gradients, and on small maps the forward, as one big GEMM each, for small feature maps where per-op overheads
// (many small Slices, grouping Transposes, ConvTranspose's col2im, per-image GEMMs a few columns wide) cost more than
// the arithmetic. All index patches through one precomputed (stride-, padding- and dilation-aware) table, patchRowIndex:
//   dW 'im2col-gather-cm': x as [C, H*W, N], one Gather of whole N-image rows builds cols[C*kh*kw, Ho*Wo*N];
//                        dW^T = cols @ dY^T[Ho*Wo*N, O]  (the rules' choice)
//   dW 'im2col-gather' : x in NHWC, one Gather of whole C-channel rows builds cols[N*Ho*Wo, kh*kw*C];
//                        dW = dY^T[O, N*Ho*Wo] @ cols  (MLAS repacks the big B of a GEMM O rows tall: slower)
//   dX 'gemm-col2im'   : cols[N*Ho*Wo, kh*kw*C] = dY^T @ W in one GEMM, then col2im as a batched GEMM with a
//                        constant 0/1 scatter matrix (sums of at most kh*kw terms: exact up to float rounding)
//   forward 'gemm'     : y = cols @ W^T, built from differentiable ops (Gather's rule is that col2im GEMM), so the
//                        backward comes out as 'gemm-col2im' for dX and one GEMM over the forward's own cols for dW
// (Tried and lost, bench/README.md: 'subpixel' dX, a strided ConvTranspose as s*s stride-1 phase Convs +
// DepthToSpace, 0.46-0.55x the forward; col2im in NCHW without the two transposes, 0.65-0.71x; a strided 1x1's dX
// as W^T @ dY placed on the stride grid by a GEMM with a 0/1 matrix, 0.42x, by a broadcast Mul with a 0/1 mask,
// 0.18x, or by zero Pads (one 4-D, or a 2-D then a 3-D), 0.26x, against ConvTranspose's 0.4-0.75x in the same runs;
// col2im as a sum of Gathers, the j-th fetching each input pixel's j-th patch row (4 for 3x3 stride 2, 1 for a strided
// 1x1), 0.31-0.36x on make run's strided 16x16 layers and 0.23-0.31x on its shortcuts, ConvTranspose 0.42-0.55x;
// every phase of a strided dX as one stride-1 Conv over dY with the phases' zero-filled sub-kernels stacked as output
// channels, then DepthToSpace (16/9 of the work for 3x3 stride 2, in one Conv): 0.37-0.54x on layer2.0 against
// ConvTranspose's 0.41-0.55x, 0.52-0.60x against 0.77-0.92x on a full-width 32x32 layer, 0.25-0.45x on 1x1s;
// the whole batch as ONE tall image (dY with spacer rows, N and C swapped) through a single ConvTranspose, so its GEMM
// spans every image: 0.43-0.44x on layer2.0 against ConvTranspose's 0.46x, 0.35-0.45x on the shortcuts: ORT's
// What beat ConvTranspose at last: conv.ts's 'col2im-op', one GEMM over the batch + ONNX Col2Im, 0.40-0.68x on
// layer2.0 and 0.53-0.68x on its shortcut (1.3-1.5x ConvTranspose in each run): ConvTranspose's per-image GEMMs,
// not its col2im, were what a second thread slowed.)

import type { Value } from '../ir.js';
import { RuleSet } from '../registry.js';
import type { ConvGeometry } from './conv.js';
import { constInts, emit1 } from './util.js';
import { concat, reshape, transpose } from './shape.js';
import { linear, matmul } from './matmul.js';
import { reduceSum } from './reduce.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const convGatherRules = new RuleSet();

// x[N,C,H,W] -> xr[N, H*W+1, C] (x in NHWC rows, the last row zero: the padding) -> cols[N, Ho*Wo*k, C]
function patches(x: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const rows = withZeroRow(reshape(transpose(x, [0, 2, 3, 1]), [g.n, g.h * g.w, g.c]));
  const index = x.graph.constant(patchRowIndex(g), [hw * k], 'int64');
  return emit1('Gather', [rows, index], { axis: { kind: 'int', value: 1 } }, [g.n, hw * k, g.c]);
}

/**
 * [A, R, B] -> [A, R+1, B], the last row zero (the padding the patch indices point at). A Concat with a zero constant:
 * ORT's Pad took 1.5x as long (1.8 against 1.1 ms on a full-width 32x32 layer's x, 0.30 against 0.22 on make run's
 * layer2).
 */
function withZeroRow(v: Value): Value {
  const [a, , b] = v.shape as [number, number, number];
  return concat([v, v.graph.zeros([a, 1, b], v.dtype)], 1);
}

/**
 * The forward Conv as one Gather and one GEMM: cols[N*Ho*Wo, k*C] @ W[O, k*C]^T. On small maps ORT's Conv runs,
 * per image, a GEMM only Ho*Wo columns wide (make run's 2x2 layers: ~9.5 GFLOP/s, bench/conv-grad.ts).
 */
export function convAsGemm(x: Value, w: Value, g: ConvGeometry): Value {
  const cols = reshape(patches(x, g), [g.n * g.ho * g.wo, g.kh * g.kw * g.c]);
  return transpose(reshape(linear(cols, kernelRows(w, g)), [g.n, g.ho, g.wo, g.o]), [0, 3, 1, 2]);
}

/** w[O,C,kh,kw] -> [O, kh*kw*C]: the kernel in the column order of the patch rows. */
function kernelRows(w: Value, g: ConvGeometry): Value {
  return reshape(transpose(w, [0, 2, 3, 1]), [g.o, g.kh * g.kw * g.c]);
}

// x[N,C,H,W], dy[N,O,Ho,Wo] -> cols[N, Ho*Wo*k, C] -> dW[O,C,kh,kw]
export function im2colGather(x: Value, dy: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const cols = patches(x, g);
  // A small dW ([O, k*C]) from one GEMM with a huge K runs on one thread (MLAS splits M and N only): B slices of K
  // then, each its own GEMM, summed.
  const b = g.o * k * g.c < 1 << 16 ? largestDivisorUpTo(g.n, 16) : 1;
  const dyT = reshape(transpose(reshape(dy, [b, g.n / b, g.o, hw]), [0, 2, 1, 3]), [b, g.o, (g.n / b) * hw]);
  const partial = matmul(dyT, reshape(cols, [b, (g.n / b) * hw, k * g.c])); // [B, O, k*C]
  const dw = b === 1 ? reshape(partial, [g.o, k, g.c]) : reshape(reduceSum(partial, [0], false), [g.o, k, g.c]);
  return reshape(transpose(dw, [0, 2, 1]), [g.o, g.c, g.kh, g.kw]);
}

// x[N,C,H,W] -> xc[B*C, H*W+1, N/B] (B groups of images, images innermost, the last row zero: the padding) ->
// cols[B, C*k, Ho*Wo*N/B]; dW^T[C*k, O] = sum over groups of cols @ dY^T[Ho*Wo*N/B, O]. The patch matrix is the
// GEMM's A, which MLAS streams as it is; as B (above) it is repacked block by block for a GEMM only O rows tall.
export function im2colGatherChannelMajor(x: Value, dy: Value, g: ConvGeometry, b = imageGroups(g)): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  const n = g.n / b;
  // The transposes are this form's overhead, dY's the larger (ORT moves it float by float: 1.2 ms of make run's
  // layer1 dW, 13.5 ms; 3.9 ms of the 7x7 RGB stem's 15.6 ms). Gathering whole n-float rows is what it buys.
  const rows = withZeroRow(reshape(transpose(reshape(x, [b, n, g.c, g.h * g.w]), [0, 2, 3, 1]), [b * g.c, g.h * g.w, n]));
  const index = x.graph.constant(patchRowIndex(g, 'tap-major'), [k * hw], 'int64');
  const cols = emit1('Gather', [rows, index], { axis: { kind: 'int', value: 1 } }, [b * g.c, k * hw, n]);
  const dyT = reshape(transpose(reshape(dy, [b, n, g.o, hw]), [0, 3, 1, 2]), [b, hw * n, g.o]);
  const perGroup = matmul(reshape(cols, [b, g.c * k, hw * n]), dyT); // [B, C*k, O]
  const dwT = b === 1 ? reshape(perGroup, [g.c * k, g.o]) : reduceSum(perGroup, [0], false);
  return transpose(reshape(dwT, [g.c, g.kh, g.kw, g.o]), [3, 0, 1, 2]);
}

/**
 * Image groups B of 'im2col-gather-cm'. A small dW ([C*k, O]) from one GEMM with a huge K leaves MLAS's threads short
 * of tiles (it splits M and N only): the images then go in B groups, one GEMM each, summed. make run's layer2.0 (C32
 * -> 64): 4.9-5.3 ms against 6.0-6.3 (the transposes with the group axis outermost ran faster too); layers whose dW
 * passes 2^16 entries lost (a full-width 32x32 strided 3x3: 17.7 against 16.4-16.7 ms).
 */
export function imageGroups(g: ConvGeometry): number {
  return g.c * g.kh * g.kw * g.o < 1 << 16 ? largestDivisorUpTo(g.n, 4) : 1;
}

function largestDivisorUpTo(n: number, max: number): number {
  let best = 1;
  for (let d = 1; d <= Math.min(n, max); d++) if (n % d === 0) best = d;
  return best;
}

/**
 * For output pixel p and tap t, the input row (y*W + x) it reads, or H*W (the zero row) in the padding; ordered
 * p-major (all taps of pixel 0 first) or tap-major.
 */
function patchRowIndex(g: ConvGeometry, order: 'pixel-major' | 'tap-major' = 'pixel-major'): BigInt64Array {
  const [hw, k] = [g.ho * g.wo, g.kh * g.kw];
  const idx = new BigInt64Array(hw * k);
  for (let oy = 0; oy < g.ho; oy++) {
    for (let ox = 0; ox < g.wo; ox++) {
      for (let i = 0; i < g.kh; i++) {
        for (let j = 0; j < g.kw; j++) {
          const y = oy * g.stride[0] - g.pad[0] + i * g.dilation[0];
          const xx = ox * g.stride[1] - g.pad[1] + j * g.dilation[1];
          const inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
          const [p, t] = [oy * g.wo + ox, i * g.kw + j];
          idx[order === 'pixel-major' ? p * k + t : t * hw + p] = BigInt(inside ? y * g.w + xx : g.h * g.w);
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

/**
 * The forward as Gather + GEMM materializes the patch matrix, and its backward (Gather's rule) a scatter matrix over
 * the padded table's H*W+1 rows: both must fit.
 */
export function fitsGemmForward(g: ConvGeometry): boolean {
  return patchesFit(g) && (g.h * g.w + 1) * g.ho * g.wo * g.kh * g.kw <= COL2IM_MAX_ENTRIES;
}

// dy[N,O,Ho,Wo], w[O,C,kh,kw] -> cols[N*Ho*Wo, k*C] = dY^T @ W (one GEMM) -> S[H*W, Ho*Wo*k] @ cols[n] -> dX[N,C,H,W]
export function gemmCol2im(dy: Value, w: Value, g: ConvGeometry): Value {
  const k = g.kh * g.kw;
  const hw = g.ho * g.wo;
  // col2im as a GEMM with a constant 0/1 matrix: S[r, (p, t)] = 1 where tap t of output pixel p reads input pixel r
  // (the padding's zero row H*W falls outside S: those taps add nothing)
  const s = w.graph.constant(scatterMatrix(patchRowIndex(g), g.h * g.w, w.dtype), [g.h * g.w, hw * k], w.dtype);
  const dyRows = reshape(transpose(dy, [0, 2, 3, 1]), [g.n * hw, g.o]);
  const cols = reshape(matmul(dyRows, kernelRows(w, g)), [g.n, hw * k, g.c]);
  return transpose(reshape(matmul(s, cols), [g.n, g.h, g.w, g.c]), [0, 3, 1, 2]);
}

/** A 0/1 matrix S[R, L] with S[r, j] = 1 where index[j] = r: S @ d scatter-adds the rows of d back into the table. */
function scatterMatrix(index: ArrayLike<number | bigint>, rows: number, dtype: Value['dtype']): Float32Array | Float64Array {
  const s = dtype === 'float64' ? new Float64Array(rows * index.length) : new Float32Array(rows * index.length);
  for (let j = 0; j < index.length; j++) {
    const r = Number(index[j]);
    if (r < rows) s[r * index.length + j] = 1;
  }
  return s;
}

// cols = Gather(table[N, R, C], index[L], axis 1) -> dTable = S[R, L] @ dCols[N, L, C]: col2im as one batched GEMM
// (im2col tables are small; a general scatter-add has no fast form on ORT's CPU provider).
convGatherRules.define('Gather', {
  grad: ({ node, dOut: [dy], needs }) => {
    const [table, indices] = node.inputs as [Value, Value];
    const axis = (node.attrs.axis?.value as number | undefined) ?? 0;
    if (!needs[0]) return [null, null];
    if (table.rank !== 3 || axis !== 1 || indices.rank !== 1) {
      throw new Error(`Gather gradient: only a constant index vector on axis 1 of a rank-3 table (got axis ${axis}, rank ${table.rank})`);
    }
    const index = constInts(indices);
    const rows = table.shape[1]!;
    if (rows * index.length > COL2IM_MAX_ENTRIES) {
      throw new Error(`Gather gradient: a ${rows}x${index.length} scatter matrix is over ${COL2IM_MAX_ENTRIES} entries`);
    }
    const s = table.graph.constant(scatterMatrix(index, rows, table.dtype), [rows, index.length], table.dtype);
    return [matmul(s, dy!), null];
  },
});
