import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../data/index.js';
import { Engine } from '../../engine/index.js';
import { classifierAccuracy, knnAccuracy } from './accuracy.js';
import type { Features } from './features.js';
import { topKCorrect } from '../../loss/index.js';

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

test('kNN votes over the k most similar bank rows, as a brute-force full sort of the cosine similarities does', async () => {
  // Random features, several query chunks and a partial last one; k well inside the bank.
  const rng = Rng.fromSeed(11);
  const dim = 16;
  const classes = 5;
  const random = (count: number): Features => ({
    h: Float32Array.from({ length: count * dim }, () => rng.uniform(-1, 1)),
    dim,
    labels: Int32Array.from({ length: count }, () => Math.floor(rng.uniform(0, classes))),
    count,
  });
  const bank = random(700);
  const queries = random(37);
  const o = { k: 50, temperature: 0.1, numClasses: classes, chunk: 16 };
  const norm = (f: Features, r: number): number => Math.hypot(...f.h.subarray(r * dim, (r + 1) * dim));
  let correct1 = 0;
  let correct5 = 0;
  for (let q = 0; q < queries.count; q++) {
    const sims = Array.from({ length: bank.count }, (_, b) => {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += queries.h[q * dim + d]! * bank.h[b * dim + d]!;
      return { b, sim: dot / (norm(queries, q) * norm(bank, b)) };
    }).sort((x, y) => y.sim - x.sim);
    const votes = new Float32Array(classes);
    for (const { b, sim } of sims.slice(0, o.k)) votes[bank.labels[b]!] += Math.exp(sim / o.temperature);
    correct1 += topKCorrect(votes, [queries.labels[q]!], classes, 1);
    correct5 += topKCorrect(votes, [queries.labels[q]!], classes, 5);
  }
  assert.ok(correct1 > 0 && correct1 < queries.count, `the reference should score neither none nor all, got ${correct1}`);
  const engine = await Engine.create({ provider: 'cpu', threads: 1 });
  const acc = await knnAccuracy(engine, bank, queries, o);
  assert.deepEqual([acc.correct1, acc.correct5], [correct1, correct5]);
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
