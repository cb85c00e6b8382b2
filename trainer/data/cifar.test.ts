import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCifar } from './cifar.js';
import { openDataset } from './index.js';
import { loadMnist } from './mnist.js';

const fmnist = await loadMnist({ family: 'fashion-mnist', split: 'test' });

/**
 * Real Fashion-MNIST image i as a CIFAR image: padded to 32x32 (2 px border of 0) and given three different
 * channels (R = x, G = 255 - x, B = x / 2), so a wrong plane order or transpose shows.
 */
function rgbPlanes(i: number): Uint8Array {
  const src = fmnist.getSync(i).image;
  const planes = new Uint8Array(3 * 1024);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = src[y * 28 + x];
      const p = (y + 2) * 32 + (x + 2);
      planes[p] = v;
      planes[1024 + p] = 255 - v;
      planes[2048 + p] = v >> 1;
    }
  }
  return planes;
}

/** One CIFAR binary file: per record the label byte(s), then the R, G and B planes (the official layout). */
function cifarFile(indices: number[], labelBytes: (i: number) => number[]): Buffer {
  return Buffer.concat(indices.map((i) => Buffer.concat([Buffer.from(labelBytes(i)), rgbPlanes(i)])));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cifar-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** HWC pixel (y, x) of a loaded sample against the planes it was written from. */
function assertSameImage(image: Uint8Array, i: number): void {
  const planes = rgbPlanes(i);
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) {
      if (image[3 * p + c] !== planes[c * 1024 + p]) assert.fail(`image ${i}: pixel ${p} channel ${c}`);
    }
  }
}

test('cifar10: five training batches + test batch, the archive folder found under --data-dir, HWC pixels', () =>
  withDir(async (dir) => {
    const root = join(dir, 'cifar-10-batches-bin');
    await mkdir(root);
    const label = (i: number): number[] => [fmnist.label(i)];
    for (let k = 1; k <= 5; k++) await writeFile(join(root, `data_batch_${k}.bin`), cifarFile([2 * k, 2 * k + 1], label));
    await writeFile(join(root, 'test_batch.bin'), cifarFile([100, 101, 102], label));
    await writeFile(join(root, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
    const train = await openDataset({ name: 'cifar10', dir }, 'train');
    assert.deepEqual([train.length, train.channels, train.height, train.width, train.numClasses], [10, 3, 32, 32, 10]);
    assert.equal(train.classNames?.[9], 'truck');
    for (let r = 0; r < 10; r++) {
      const s = await train.get(r);
      assert.equal(s.label, fmnist.label(r + 2), `label of record ${r}`);
      assertSameImage(s.image, r + 2);
    }
    const test = await loadCifar({ family: 'cifar10', split: 'test', dir: root });
    assert.equal(test.length, 3);
    assertSameImage(test.getSync(2).image, 102);
  }));

test('cifar100: coarse + fine label bytes, the fine label is the class', () =>
  withDir(async (dir) => {
    const fine = (i: number): number => 10 * fmnist.label(i) + (i % 10); // 0..99
    const labels = (i: number): number[] => [fmnist.label(i), fine(i)];
    await writeFile(join(dir, 'train.bin'), cifarFile([5, 6, 7, 8], labels));
    await writeFile(join(dir, 'test.bin'), cifarFile([9], labels));
    const train = await openDataset({ name: 'cifar100', dir }, 'train');
    assert.deepEqual([train.length, train.numClasses], [4, 100]);
    assert.deepEqual([0, 1, 2, 3].map((r) => train.label(r)), [5, 6, 7, 8].map(fine));
    assertSameImage((await train.get(3)).image, 8);
  }));

test('cifar: a truncated file or an out-of-range label is an error naming the file', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'train.bin'), cifarFile([1, 2], (i) => [0, i]).subarray(0, 5000));
    await assert.rejects(loadCifar({ family: 'cifar100', split: 'train', dir }), /train\.bin: 5000 bytes is not a whole number of 3074-byte CIFAR records/);
    await writeFile(join(dir, 'test.bin'), cifarFile([1], () => [0, 100]));
    await assert.rejects(loadCifar({ family: 'cifar100', split: 'test', dir }), /test\.bin: record 0 has label 100, not in 0\.\.99/);
  }));
