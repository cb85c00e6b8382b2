import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../data/index.js';
import { Engine } from '../engine/index.js';
import { classifierAccuracy, knnAccuracy, topK, type Features } from './evaluate.js';

test('topK returns the k largest values and their indices, as a full sort does', () => {
  const rng = Rng.fromSeed(7);
  for (const [n, k] of [[1000, 200], [50, 50], [10, 1], [300, 17]] as const) {
    const row = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
    const vals = new Float32Array(k);
    const idx = new Int32Array(k);
    topK(row, k, vals, idx);
    const expected = Array.from(row.keys()).sort((a, b) => row[b] - row[a]).slice(0, k).sort((a, b) => a - b);
    assert.deepEqual(Array.from(idx).sort((a, b) => a - b), expected);
    for (let i = 0; i < k; i++) assert.equal(vals[i], row[idx[i]]);
  }
});

/** Rows of `dim` values, row r = `scale` along axis axes[r] plus 0.01 on the next axis (so no two rows are equal). */
function features(axes: number[], labels: number[], dim: number, scale = 1): Features {
  const h = new Float32Array(axes.length * dim);
  axes.forEach((a, r) => {
    h[r * dim + a] = scale;
    h[r * dim + ((a + 1) % dim)] = 0.01 * (r + 1);
  });
  return { h, dim, labels: Int32Array.from(labels), count: axes.length };
}

test('kNN accuracy comes as correct counts and the fractions they make', async () => {
  // 8 classes, bank: 3 rows of class c along axis c. Queries: along axis 0 labelled 0 (top-1), along axis 1 labelled 7
  // (missed: classes 0..6 rank above 7, on votes or on the tie at 0), along axis 2 labelled 0 (top-5 only).
  const bank = features([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2], 8);
  const queries = features([0, 1, 2], [0, 7, 0], 8, 3);
  const engine = await Engine.create({ provider: 'cpu', threads: 1 });
  const acc = await knnAccuracy(engine, bank, queries, { k: 3, temperature: 0.1, numClasses: 8, chunk: 2 });
  assert.deepEqual(acc, { count: 3, correct1: 1, correct5: 2, top1: 1 / 3, top5: 2 / 3 });
});

test('online-classifier accuracy comes as correct counts and the fractions they make', () => {
  // 6 classes; row 0 ranks its label first, row 1 sixth, row 2 third, row 3 second (tie broken by the lower class).
  const logits = Float32Array.from([
    [9, 1, 1, 1, 1, 1],
    [1, 2, 3, 4, 5, 0],
    [5, 4, 3, 2, 1, 0],
    [7, 7, 0, 0, 0, 0],
  ].flat());
  const f: Features = { h: new Float32Array(4), dim: 1, logits, labels: Int32Array.from([0, 5, 2, 1]), count: 4 };
  assert.deepEqual(classifierAccuracy(f, 6), { count: 4, correct1: 1, correct5: 3, top1: 0.25, top5: 0.75 });
});
