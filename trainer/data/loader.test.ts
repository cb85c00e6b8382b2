import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityAugmentParams, simclrAugmentParams } from './augment.js';
import { ContrastiveLoader, evalBatches, shardRange } from './loader.js';
import { createSyntheticDataset } from './synthetic.js';
import { DataError } from './errors.js';
import { loadMnist } from './mnist.js';
import type { Dataset } from './dataset.js';
import { SYNTHETIC_LENGTH, openDataset } from './index.js';

async function all<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of gen) out.push(item);
  return out;
}

const ds = createSyntheticDataset({ split: 'train', length: 100, seed: 1 });
const augment = simclrAugmentParams(28, 28, ds.normalization);

test('drop_last: steps per epoch and NCHW shapes', async () => {
  const loader = new ContrastiveLoader(ds, { globalBatchSize: 32, seed: 0, augment });
  assert.equal(loader.stepsPerEpoch, 3); // 100 / 32, remainder dropped
  const batches = await all(loader.epoch(0));
  assert.equal(batches.length, 3);
  for (const b of batches) {
    assert.deepEqual(b.shape, [32, 1, 28, 28]);
    assert.equal(b.view1.length, 32 * 784);
    assert.equal(b.view2.length, 32 * 784);
  }
  const seen = new Set(batches.flatMap((b) => [...b.indices]));
  assert.equal(seen.size, 96, 'no index repeats within an epoch');
  assert.throws(() => new ContrastiveLoader(ds, { globalBatchSize: 128, seed: 0, augment }),
    (err: Error) => err instanceof DataError && /fewer than one batch of 128: lower --batch-size to at most \d+/.test(err.message));
  assert.throws(() => new ContrastiveLoader(ds, { globalBatchSize: 30, seed: 0, augment, worldSize: 4 }), /not divisible/);
});

test('the two views differ; labels match the indices', async () => {
  const b = await new ContrastiveLoader(ds, { globalBatchSize: 16, seed: 0, augment }).batch(0, 0);
  assert.notDeepEqual(b.view1, b.view2);
  for (let i = 0; i < 16; i++) assert.equal(b.labels[i], ds.label(b.indices[i]));
});

test('determinism: same seed -> identical batches; new epoch or seed -> different order', async () => {
  const a = new ContrastiveLoader(ds, { globalBatchSize: 16, seed: 7, augment });
  const b = new ContrastiveLoader(ds, { globalBatchSize: 16, seed: 7, augment });
  assert.deepEqual(await a.batch(2, 1), await b.batch(2, 1));
  // Random access after other batches equals sequential iteration (resume needs no loader state).
  const sequential = await all(a.epoch(3));
  assert.deepEqual(await b.batch(3, 4), sequential[4]);
  assert.deepEqual((await all(b.epoch(3, 4)))[0], sequential[4]);
  assert.notDeepEqual(a.permutation(0), a.permutation(1));
  const c = new ContrastiveLoader(ds, { globalBatchSize: 16, seed: 8, augment });
  assert.notDeepEqual(c.permutation(0), a.permutation(0));
});

test('shards by rank: the ranks\' batches concatenate to the single-process batch exactly', async () => {
  const single = await new ContrastiveLoader(ds, { globalBatchSize: 24, seed: 3, augment }).batch(1, 2);
  const parts = await Promise.all([0, 1, 2].map((rank) =>
    new ContrastiveLoader(ds, { globalBatchSize: 24, seed: 3, augment, rank, worldSize: 3 }).batch(1, 2),
  ));
  assert.deepEqual(parts[0].shape, [8, 1, 28, 28]);
  const concat = (key: 'view1' | 'view2'): number[] => parts.flatMap((p) => [...p[key]]);
  assert.deepEqual(concat('view1'), [...single.view1]);
  assert.deepEqual(concat('view2'), [...single.view2]);
  assert.deepEqual(parts.flatMap((p) => [...p.indices]), [...single.indices]);
});

test('eval loader: every image once, in order, no augmentation, sharded without overlap', async () => {
  const testSet = await loadMnist({ family: 'fashion-mnist', split: 'test' });
  const batches = await all(evalBatches(testSet, { batchSize: 3000, outHeight: 28, outWidth: 28 }));
  assert.deepEqual(batches.map((b) => b.shape[0]), [3000, 3000, 3000, 1000]); // last batch kept
  const { mean, std } = testSet.normalization;
  const first = testSet.getSync(0);
  for (let p = 0; p < 784; p++) {
    assert.ok(Math.abs(batches[0].images[p] - (first.image[p] / 255 - mean[0]) / std[0]) < 1e-5);
  }
  assert.equal(batches[3].labels[999], testSet.label(9999));
  const covered: number[] = [];
  for (let rank = 0; rank < 3; rank++) {
    for await (const b of evalBatches(createSyntheticDataset({ split: 'test', length: 10 }), { batchSize: 2, outHeight: 8, outWidth: 8, rank, worldSize: 3 })) {
      assert.deepEqual(b.shape.slice(1), [1, 8, 8]);
      covered.push(...b.indices);
    }
  }
  assert.deepEqual(covered, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(shardRange(10, 2, 3), [8, 10]);
  assert.deepEqual(shardRange(2, 2, 3), [2, 2]);
});

test('identity augmentation through the loader reproduces the normalised pixels of real data', async () => {
  const testSet = await loadMnist({ family: 'fashion-mnist', split: 'test' });
  const loader = new ContrastiveLoader(testSet, { globalBatchSize: 8, seed: 0, augment: identityAugmentParams(28, 28, testSet.normalization) });
  const b = await loader.batch(0, 0);
  assert.deepEqual(b.view1, b.view2);
  const img = testSet.getSync(b.indices[5]).image;
  const { mean, std } = testSet.normalization;
  for (let p = 0; p < 784; p++) assert.ok(Math.abs(b.view1[5 * 784 + p] - (img[p] / 255 - mean[0]) / std[0]) < 1e-5);
});

/** A source shaped like ImageFolder: images of different sizes, decoded asynchronously. */
function variableSizeSource(failAt = -1): Dataset {
  return {
    name: 'varsize', split: 'train', length: 12, channels: 3, height: 16, width: 16, numClasses: 3,
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    label: (i) => i % 3,
    get: async (i) => {
      await new Promise((r) => setImmediate(r));
      if (i === failAt) throw new Error(`cannot decode image ${i}`);
      const height = 20 + i;
      const width = 40 - i;
      return { image: new Uint8Array(height * width * 3).fill(10 * i), height, width, label: i % 3 };
    },
  };
}

test('a source with per-image sizes (ImageFolder-like) yields fixed-size batches', async () => {
  const src = variableSizeSource();
  const loader = new ContrastiveLoader(src, { globalBatchSize: 4, seed: 1, augment: simclrAugmentParams(16, 16, src.normalization) });
  const batches = await all(loader.epoch(0));
  assert.equal(batches.length, 3);
  assert.deepEqual(batches[0].shape, [4, 3, 16, 16]);
  const evals = await all(evalBatches(src, { batchSize: 5, outHeight: 16, outWidth: 16 }));
  assert.deepEqual(evals.map((e) => e.shape[0]), [5, 5, 2]);
  // A constant image stays constant under resize: sample 7 is all 70.
  assert.ok(evals[1].images.subarray(2 * 768, 3 * 768).every((v) => Math.abs(v - 70 / 255) < 1e-6));
});

test('a failing sample rejects the epoch with its error, also when it fails during prefetch', async () => {
  const src = variableSizeSource(5);
  const loader = new ContrastiveLoader(src, { globalBatchSize: 4, seed: 1, augment: simclrAugmentParams(16, 16, src.normalization) });
  const failingStep = Math.floor([...loader.permutation(0)].indexOf(5) / 4);
  await assert.rejects(all(loader.epoch(0)), /cannot decode image 5/);
  await assert.rejects(loader.batch(0, failingStep), /cannot decode image 5/);
  // Stopping early while the failing batch is being prefetched leaves no unhandled rejection.
  if (failingStep > 0) {
    for await (const b of loader.epoch(0, failingStep - 1)) {
      assert.equal(b.step, failingStep - 1);
      break;
    }
  }
});

test('openDataset: by --dataset name, with clear errors', async () => {
  const syn = await openDataset({ name: 'synthetic', seed: 3 }, 'test');
  assert.deepEqual([syn.name, syn.length, syn.split], ['synthetic', SYNTHETIC_LENGTH.test, 'test']);
  const fm = await openDataset({ name: 'fashion-mnist' }, 'test');
  assert.equal(fm.length, 10000);
  await assert.rejects(openDataset({ name: 'cifar10', dir: '/nonexistent' }, 'train'), /cifar10: no data_batch_1.bin in \/nonexistent/);
  await assert.rejects(openDataset({ name: 'imagefolder' }, 'train'), /--dataset=imagefolder needs --data-dir/);
  await assert.rejects(openDataset({ name: 'imagenet' }, 'train'), /--dataset=imagenet is not a data set: use fashion-mnist/);
});
