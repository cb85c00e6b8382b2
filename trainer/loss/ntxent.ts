// NT-Xent (SimCLR's normalised temperature-scaled cross entropy), built from graph ops so autodiff differentiates it.
//   z [2N, D]: rows 0..N-1 are view 1, rows N..2N-1 view 2 of the same images (positives i <-> i + N).
//   zn = z / sqrt(sum(z^2, 1) + 1e-12)                         [2N, D]
//   s  = zn zn^T / T + mask (-1e9 on the diagonal: self-similarity never counts; finite so 0 * logp stays 0)
//   loss = -mean_i log softmax(s_i)[pos(i)]                   over all 2N anchors, each with 2N - 1 candidates
import type { Graph, Value } from '../graph/index.js';
import * as op from '../graph/ops.js';

/** Added to the self-similarity logits: far below any cosine / T, yet finite (no NaN in 0 * logp or its gradient). */
export const SELF_MASK = -1e9;
export const NORM_EPS = 1e-12;

/** Rows scaled to unit L2 norm: z [M, D] -> [M, D]. */
export function l2Normalize(z: Value, eps = NORM_EPS): Value {
  return op.div(z, op.sqrt(op.add(op.reduceSum(op.mul(z, z), [1], true), eps)));
}

/**
 * NT-Xent over z [2N, D]; returns a scalar. Row i's positive is row (i + N) mod 2N (view 1 rows first), or
 * `positives[i]` when given: a pairing of the rows (positives[positives[i]] === i, never i itself), for embeddings
 * gathered in another order, e.g. [rank0 view1, rank0 view2, rank1 view1, ...] (see blockPositives).
 */
export function ntXentLoss(z: Value, temperature: number, positives?: ArrayLike<number>): Value {
  if (z.rank !== 2 || z.shape[0] % 2 !== 0 || z.shape[0] < 2) {
    throw new Error(`ntXent: z must be [2N, D] with both views stacked, got [${z.shape.join(', ')}]`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`ntXent: bad temperature ${temperature}`);
  const g = z.graph as Graph;
  const m = z.shape[0];
  const zn = l2Normalize(z);
  const sim = op.mul(op.matmul(zn, op.transpose(zn, [1, 0])), 1 / temperature); // [2N, 2N]
  const logp = op.logSoftmax(op.add(sim, g.constant(selfMask(m), [m, m])), 1);
  const pos = positives === undefined ? positiveMask(m) : pairingMask(positives, m);
  const picked = op.reduceSum(op.mul(logp, g.constant(pos, [m, m])), [1]); // [2N]
  return op.neg(op.reduceMean(picked));
}

/** NT-Xent of two views z1, z2 [N, D]. */
export function ntXent(z1: Value, z2: Value, temperature: number): Value {
  if (z1.rank !== 2 || z1.shape.join() !== z2.shape.join()) {
    throw new Error(`ntXent: views must both be [N, D], got [${z1.shape.join(', ')}] and [${z2.shape.join(', ')}]`);
  }
  return ntXentLoss(op.concat([z1, z2], 0), temperature);
}

/** [M, M]: SELF_MASK on the diagonal, 0 elsewhere. */
export function selfMask(m: number): Float32Array {
  const a = new Float32Array(m * m);
  for (let i = 0; i < m; i++) a[i * m + i] = SELF_MASK;
  return a;
}

/** [M, M]: 1 at (i, (i + M/2) mod M), the positive pair of each anchor. */
export function positiveMask(m: number): Float32Array {
  const a = new Float32Array(m * m);
  const n = m / 2;
  for (let i = 0; i < m; i++) a[i * m + ((i + n) % m)] = 1;
  return a;
}

/** [M, M]: 1 at (i, positives[i]), after checking that `positives` pairs the M rows. */
export function pairingMask(positives: ArrayLike<number>, m: number): Float32Array {
  if (positives.length !== m) throw new Error(`ntXent: ${positives.length} positives given for ${m} rows`);
  const a = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    const j = positives[i];
    if (!Number.isInteger(j) || j < 0 || j >= m || j === i || positives[j] !== i) {
      throw new Error(
        `ntXent: positives must pair the rows (positives[positives[i]] = i != positives[i]); row ${i} -> ${j}`,
      );
    }
    a[i * m + j] = 1;
  }
  return a;
}

/**
 * Positives for `blocks` consecutive blocks of 2b rows, each [view 1 (b rows); view 2 (b rows)]: the order an
 * all-gather of per-replica [z1; z2] produces.
 */
export function blockPositives(blocks: number, b: number): Int32Array {
  const out = new Int32Array(blocks * 2 * b);
  for (let k = 0; k < blocks; k++) {
    for (let i = 0; i < b; i++) {
      out[k * 2 * b + i] = k * 2 * b + b + i;
      out[k * 2 * b + b + i] = k * 2 * b + i;
    }
  }
  return out;
}

/**
 * The gradient-cache step's share of NT-Xent: the SUM of the per-anchor losses of one block of rows, against every
 * row of the global batch. `z` [M, D] is the global batch rolled so that the block comes first: rows 0..b-1 are the
 * anchors, [view 1 (b/2 rows); view 2 (b/2 rows)] of the same images. Rows b..M-1 are negatives only, so the masks
 * stay [b, b] whatever M is. Differentiating this sum w.r.t. z gives the block's contribution to every row's
 * gradient (as anchor, as positive, as negative); summed over all blocks and divided by M it is dNTXent/dz.
 */
export function ntXentBlockSum(z: Value, blockRows: number, temperature: number): Value {
  const m = z.shape[0];
  const b = blockRows;
  if (z.rank !== 2 || b < 2 || b % 2 !== 0 || b > m) {
    throw new Error(`ntXentBlockSum: need z [M, D] and an even block of 2..M rows, got [${z.shape.join(', ')}] and ${b}`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`ntXent: bad temperature ${temperature}`);
  const g = z.graph as Graph;
  const zn = l2Normalize(z);
  const anchors = op.slice(zn, [0], [b], [0]);
  const inBlock = op.add(
    op.mul(op.matmul(anchors, op.transpose(anchors, [1, 0])), 1 / temperature),
    g.constant(selfMask(b), [b, b]),
  );
  let logits = inBlock;
  if (m > b) {
    const rest = op.slice(zn, [b], [m], [0]);
    logits = op.concat([inBlock, op.mul(op.matmul(anchors, op.transpose(rest, [1, 0])), 1 / temperature)], 1);
  }
  const logp = op.logSoftmax(logits, 1); // [b, M]
  const positives = op.reduceSum(op.mul(op.slice(logp, [0], [b], [1]), g.constant(positiveMask(b), [b, b])));
  return op.neg(positives);
}
