import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../data/index.js';
import { topK } from './evaluate.js';

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
