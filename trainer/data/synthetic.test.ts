import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSyntheticDataset } from './synthetic.js';

test('synthetic data is deterministic for a seed and differs across seeds and splits', () => {
  const a = createSyntheticDataset({ split: 'train', length: 50, seed: 4 });
  const b = createSyntheticDataset({ split: 'train', length: 50, seed: 4 });
  assert.deepEqual(a.getSync(17), b.getSync(17));
  assert.notDeepEqual(a.getSync(17).image, createSyntheticDataset({ split: 'train', length: 50, seed: 5 }).getSync(17).image);
  assert.notDeepEqual(a.getSync(17).image, createSyntheticDataset({ split: 'test', length: 50, seed: 4 }).getSync(17).image);
  const rgb = createSyntheticDataset({ split: 'train', length: 5, channels: 3, size: 12 });
  assert.equal(rgb.getSync(0).image.length, 12 * 12 * 3);
  assert.throws(() => a.getSync(50), RangeError);
});

test('synthetic data is learnable: nearest class mean on raw pixels beats chance by far', () => {
  const train = createSyntheticDataset({ split: 'train', length: 500, seed: 1 });
  const test_ = createSyntheticDataset({ split: 'test', length: 200, seed: 1 });
  const dim = 28 * 28;
  const means = Array.from({ length: 10 }, () => new Float64Array(dim));
  const counts = new Array(10).fill(0);
  for (let i = 0; i < train.length; i++) {
    const { image, label } = train.getSync(i);
    counts[label]++;
    for (let p = 0; p < dim; p++) means[label][p] += image[p];
  }
  means.forEach((m, c) => m.forEach((_v, p) => (m[p] /= counts[c])));
  let correct = 0;
  for (let i = 0; i < test_.length; i++) {
    const { image, label } = test_.getSync(i);
    let best = -1;
    let bestDist = Infinity;
    means.forEach((m, c) => {
      let d = 0;
      for (let p = 0; p < dim; p++) d += (image[p] - m[p]) ** 2;
      if (d < bestDist) [best, bestDist] = [c, d];
    });
    if (best === label) correct++;
  }
  assert.ok(correct / test_.length > 0.8, `accuracy ${correct / test_.length}`);
  assert.deepEqual(counts, new Array(10).fill(50), 'balanced classes');
});
