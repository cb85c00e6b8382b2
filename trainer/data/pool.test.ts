import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { simclrAugmentParams } from './augment.js';
import { openDataset } from './index.js';
import { ContrastiveLoader, type ContrastiveBatch } from './loader.js';
import { loadMnist } from './mnist.js';
import { createSyntheticDataset } from './synthetic.js';

async function withLoader<T>(loader: ContrastiveLoader, fn: (l: ContrastiveLoader) => Promise<T>): Promise<T> {
  try {
    return await fn(loader);
  } finally {
    await loader.close();
  }
}

async function collect(loader: ContrastiveLoader, epoch: number): Promise<ContrastiveBatch[]> {
  const out: ContrastiveBatch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

test('workers: batches are bit-identical for 0, 1 and 3 workers (synthetic data set from openDataset)', async () => {
  const ds = await openDataset({ name: 'synthetic', seed: 4 }, 'test');
  const augment = simclrAugmentParams(ds.height, ds.width, ds.normalization, 1);
  const make = (workers: number): ContrastiveLoader => new ContrastiveLoader(ds, { globalBatchSize: 50, seed: 9, augment, workers, prefetch: 2 });
  const reference = await withLoader(make(0), (l) => collect(l, 1));
  assert.equal(reference.length, Math.floor(ds.length / 50));
  for (const workers of [1, 3]) {
    const got = await withLoader(make(workers), (l) => collect(l, 1));
    assert.equal(got.length, reference.length);
    for (let s = 0; s < got.length; s++) {
      assert.deepEqual(got[s].view1, reference[s].view1, `${workers} workers, step ${s}, view 1`);
      assert.deepEqual(got[s].view2, reference[s].view2, `${workers} workers, step ${s}, view 2`);
      assert.deepEqual(got[s].labels, reference[s].labels);
      assert.deepEqual(got[s].indices, reference[s].indices);
    }
  }
});

test('workers: ImageFolder of real JPEGs decodes in the workers, same batches as the main thread, warnings forwarded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pool-'));
  try {
    const fm = await loadMnist({ family: 'fashion-mnist', split: 'test' });
    for (let i = 0; i < 24; i++) {
      const classDir = join(dir, 'train', `class${fm.label(i)}`);
      await mkdir(classDir, { recursive: true });
      await sharp(Buffer.from(fm.getSync(i).image), { raw: { width: 28, height: 28, channels: 1 } })
        .resize(40 + i, 36)
        .jpeg()
        .toFile(join(classDir, `${i}.jpg`));
    }
    await writeFile(join(dir, 'train', 'class9', 'zz-corrupt.jpg'), 'definitely not a JPEG');
    const main: string[] = [];
    const ds = await openDataset({ name: 'imagefolder', dir, imageSize: 24, onWarning: (m) => main.push(m) }, 'train');
    assert.equal(ds.length, 25);
    const augment = simclrAugmentParams(24, 24, ds.normalization, 1);
    const here = await withLoader(new ContrastiveLoader(ds, { globalBatchSize: 25, seed: 2, augment }), (l) => l.batch(0, 0));
    const warnings: string[] = [];
    const there = await withLoader(
      new ContrastiveLoader(ds, { globalBatchSize: 25, seed: 2, augment, workers: 2, onWarning: (m) => warnings.push(m) }),
      (l) => l.batch(0, 0),
    );
    assert.deepEqual(there.view1, here.view1);
    assert.deepEqual(there.view2, here.view2);
    assert.deepEqual(there.labels, here.labels);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /skipping unreadable image .*zz-corrupt\.jpg/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('workers: a failing sample rejects the batch with its message; hand-built sources need workers 0', async () => {
  const ds = await openDataset({ name: 'cifar10', dir: '/nonexistent' }, 'train').catch((e: Error) => e);
  assert.ok(ds instanceof Error);
  const syn = createSyntheticDataset({ split: 'train', length: 64, seed: 1 });
  const augment = simclrAugmentParams(28, 28, syn.normalization);
  assert.throws(() => new ContrastiveLoader(syn, { globalBatchSize: 16, seed: 0, augment, workers: 2 }), /was not opened with openDataset, so workers cannot open it; use workers 0/);
  assert.throws(() => new ContrastiveLoader(syn, { globalBatchSize: 16, seed: 0, augment, prefetch: 0 }), /prefetch 0: use a positive integer/);
  // A worker whose data set cannot be opened (the folder vanished after the main thread opened it).
  const dir = await mkdtemp(join(tmpdir(), 'pool-gone-'));
  await mkdir(join(dir, 'train', 'a'), { recursive: true });
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(join(dir, 'train', 'a', 'x.png'));
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#202020' } }).png().toFile(join(dir, 'train', 'a', 'y.png'));
  const folder = await openDataset({ name: 'imagefolder', dir, imageSize: 8 }, 'train');
  await rm(dir, { recursive: true, force: true });
  const loader = new ContrastiveLoader(folder, { globalBatchSize: 2, seed: 0, augment: simclrAugmentParams(8, 8, folder.normalization), workers: 1 });
  await withLoader(loader, (l) => assert.rejects(l.batch(0, 0), /imagefolder: cannot read .*train: --data-dir must hold train\/ and test\//));
});

test('prefetch bounds the batches in flight', async () => {
  const syn = createSyntheticDataset({ split: 'train', length: 80, seed: 1 });
  let inFlight = 0;
  let maxInFlight = 0;
  const counting = {
    ...syn,
    name: syn.name,
    split: syn.split,
    length: syn.length,
    channels: syn.channels,
    height: syn.height,
    width: syn.width,
    numClasses: syn.numClasses,
    normalization: syn.normalization,
    label: (i: number) => syn.label(i),
    get: async (i: number) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return syn.get(i);
    },
  };
  const loader = new ContrastiveLoader(counting, { globalBatchSize: 8, seed: 0, augment: simclrAugmentParams(28, 28, syn.normalization), prefetch: 3 });
  let steps = 0;
  for await (const b of loader.epoch(0)) {
    assert.equal(b.step, steps++);
    await new Promise((r) => setTimeout(r, 5)); // a slow training step: the queue fills up to its bound
  }
  assert.equal(steps, 10);
  assert.ok(maxInFlight <= 3 * 8, `at most 3 batches of 8 samples in flight, saw ${maxInFlight}`);
  assert.ok(maxInFlight > 8, `prefetch overlapped batches (saw ${maxInFlight})`);
});

test('closing a loader while batches are prefetched leaves no unhandled rejection', async () => {
  const ds = await openDataset({ name: 'synthetic', seed: 4 }, 'train');
  const loader = new ContrastiveLoader(ds, { globalBatchSize: 64, seed: 1, augment: simclrAugmentParams(28, 28, ds.normalization), workers: 1, prefetch: 3 });
  const it = loader.epoch(0);
  const first = await it.next(); // two more batches are now in flight in the worker
  assert.equal(first.value?.step, 0);
  await loader.close(); // rejects them; nobody awaits them
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(it.next(), /the loader was closed/);
});
