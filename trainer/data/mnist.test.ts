import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, parseIdx, readIdxFile } from './idx.js';
import { DEFAULT_FASHION_MNIST_DIR, loadMnist } from './mnist.js';

test('real Fashion-MNIST: 60000/10000 images of 28x28, labels 0-9, balanced', async () => {
  const train = await loadMnist({ family: 'fashion-mnist', split: 'train' });
  const testSet = await loadMnist({ family: 'fashion-mnist', split: 'test' });
  assert.equal(train.length, 60000);
  assert.equal(testSet.length, 10000);
  for (const ds of [train, testSet]) {
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.channels, 1);
    assert.equal(ds.numClasses, 10);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < ds.length; i++) counts[ds.label(i)]++;
    assert.deepEqual(counts, new Array(10).fill(ds.length / 10)); // 6000 / 1000 per class
  }
  const first = await train.get(0);
  assert.deepEqual([first.height, first.width], [28, 28]);
  assert.equal(first.image.length, 784);
  assert.equal(first.label, 9); // the first training image is an ankle boot
  // Mean pixel over a slice agrees with the published normalisation mean (0.286).
  let sum = 0;
  for (let i = 0; i < 2000; i++) for (const v of train.getSync(i).image) sum += v;
  assert.ok(Math.abs(sum / (2000 * 784 * 255) - train.normalization.mean[0]) < 0.01);
  assert.throws(() => train.getSync(60000), /fashion-mnist\/train: index 60000 out of range/);
  await assert.rejects(train.get(-1), RangeError);
});

test('missing files: the error names the paths and the package', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  try {
    await assert.rejects(loadMnist({ family: 'fashion-mnist', split: 'test', dir }), (err: Error) => {
      assert.match(err.message, new RegExp(`missing ${dir}/t10k-images-idx3-ubyte.gz and ${dir}/t10k-images-idx3-ubyte`));
      assert.match(err.message, /dataset-fashion-mnist/);
      return true;
    });
    await assert.rejects(loadMnist({ family: 'mnist', split: 'test' }), /mnist: no default folder; pass --data-dir/);
  } finally {
    await rm(dir, { recursive: true });
  }
  assert.equal(DEFAULT_FASHION_MNIST_DIR, '/usr/share/datasets/fashion-mnist');
});

test('plain and gzipped IDX files both load; mnist family from a folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  try {
    const pixels = Uint8Array.from({ length: 3 * 2 * 2 }, (_v, i) => i * 10);
    await writeFile(join(dir, 't10k-images-idx3-ubyte'), encodeIdx([3, 2, 2], pixels));
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([3], Uint8Array.of(7, 0, 3))));
    const ds = await loadMnist({ family: 'mnist', split: 'test', dir });
    assert.equal(ds.length, 3);
    assert.equal(ds.height, 2);
    assert.deepEqual([...ds.getSync(1).image], [40, 50, 60, 70]);
    assert.deepEqual([0, 1, 2].map((i) => ds.label(i)), [7, 0, 3]);
    // Labels out of range and label/image count mismatches are caught at load.
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([3], Uint8Array.of(7, 10, 3))));
    await assert.rejects(loadMnist({ family: 'mnist', split: 'test', dir }), /label 10 at 1 is not in 0..9/);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([2], Uint8Array.of(7, 1))));
    await assert.rejects(loadMnist({ family: 'mnist', split: 'test', dir }), /2 labels for 3 images/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('corrupt IDX: bad magic, truncated body, corrupt gzip are clear errors naming the file', async () => {
  assert.throws(() => parseIdx(Uint8Array.of(1, 2, 3, 4), 'f'), /f: not an IDX file/);
  assert.throws(() => parseIdx(encodeIdx([2, 2], Uint8Array.of(1, 2, 3)), 'f'), /f: IDX body has 3 bytes, header \[2,2\] needs 4/);
  assert.throws(() => parseIdx(Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0), 'f'), /unsupported/);
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  try {
    const path = join(dir, 'x.gz');
    const gz = gzipSync(encodeIdx([4], Uint8Array.of(1, 2, 3, 4)));
    await writeFile(path, gz.subarray(0, gz.length - 6));
    await assert.rejects(readIdxFile(path), new RegExp(`${path}: corrupt gzip data`));
    await assert.rejects(readIdxFile(join(dir, 'absent')), /cannot read IDX file .*absent/);
  } finally {
    await rm(dir, { recursive: true });
  }
});
