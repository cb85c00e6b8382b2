// --dataset auto: which data set a --data-dir holds, on real files of each layout (the Debian package's Fashion-MNIST,
// digits rendered from a real font as MNIST-style IDX files, PNG ImageFolders, CIFAR binary records), and the one-line
// errors for folders that are none of them.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { DataError } from './errors.js';
import { detectDataset, idxMeanPixel, withResolvedDataset } from './detect.js';
import { encodeIdx } from './idx.js';
import { openDataset } from './index.js';
import { DEFAULT_FASHION_MNIST_DIR, loadMnist } from './mnist.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'detect-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(name: string, files: Record<string, Uint8Array | string> = {}): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [path, body] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), body);
  }
  return dir;
}

/** Digit d as MNIST draws it: white strokes on black, 28x28, rendered from DejaVu Sans. */
async function digit(d: number, size: number): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28" fill="black"/>` +
    `<text x="14" y="${6 + size * 0.72}" font-size="${size}" font-family="DejaVu Sans" text-anchor="middle" fill="white">${d}</text></svg>`;
  const { data } = await sharp(Buffer.from(svg)).greyscale().extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  assert.equal(data.length, 784);
  return data;
}

/** An MNIST-style IDX folder of n rendered digits per split. */
async function digitsFolder(name: string, n: number): Promise<string> {
  const images: Uint8Array[] = [];
  for (let i = 0; i < n; i++) images.push(await digit(i % 10, 20 + (i % 5)));
  const labels = Uint8Array.from({ length: n }, (_v, i) => i % 10);
  const body = Buffer.concat(images);
  return folder(name, {
    'train-images-idx3-ubyte.gz': gzipSync(encodeIdx([n, 28, 28], body)),
    'train-labels-idx1-ubyte.gz': gzipSync(encodeIdx([n], labels)),
    't10k-images-idx3-ubyte': encodeIdx([n, 28, 28], body),
    't10k-labels-idx1-ubyte': encodeIdx([n], labels),
  });
}

async function imageFolder(name: string): Promise<string> {
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 30, b: 60 } } }).png().toBuffer();
  return folder(name, { 'train/a/0.png': png, 'train/b/0.png': png, 'test/a/0.png': png, 'test/b/0.png': png });
}

/** n CIFAR records of `labelBytes` label bytes (all 0) and 3072 pixel bytes. */
const cifarRecords = (n: number, labelBytes: number): Uint8Array => new Uint8Array(n * (labelBytes + 3072));

test('the Debian package\'s Fashion-MNIST is fashion-mnist, decided by its mean pixel (the first 1000 images, exact)', async () => {
  const d = await detectDataset(DEFAULT_FASHION_MNIST_DIR);
  assert.equal(d.dataset, 'fashion-mnist');
  // The streamed mean of the first 1000 images equals the mean over the same images as the reader loads them.
  const train = await loadMnist({ family: 'fashion-mnist', split: 'train' });
  let sum = 0;
  for (let i = 0; i < 1000; i++) for (const v of train.getSync(i).image) sum += v;
  assert.equal(await idxMeanPixel(join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')), sum / (1000 * 784 * 255));
});

test('IDX files of thin digit strokes are mnist; auto opens them as mnist, also in a loader worker\'s origin', async () => {
  const dir = await digitsFolder('digits', 40);
  const mean = await idxMeanPixel(join(dir, 'train-images-idx3-ubyte.gz'));
  assert.ok(mean > 0.05 && mean < 0.2, `rendered digits' mean pixel ${mean}: MNIST-like (0.13)`);
  assert.equal((await detectDataset(dir)).dataset, 'mnist');
  const ds = await openDataset({ name: 'auto', dir }, 'test');
  assert.equal(ds.name, 'mnist');
  assert.equal(ds.length, 40);
  assert.equal(ds.origin?.name, 'mnist', 'workers reopen the resolved data set, not auto');
  assert.equal(ds.normalization.mean[0], 0.1307);
});

test('a folder with train/ is an ImageFolder, CIFAR binary batches are cifar10 or cifar100, here or in the archive\'s folder', async () => {
  assert.equal((await detectDataset(await imageFolder('photos'))).dataset, 'imagefolder');
  const c10 = await folder('c10', { 'cifar-10-batches-bin/data_batch_1.bin': cifarRecords(2, 1) });
  assert.equal((await detectDataset(c10)).dataset, 'cifar10');
  const c100 = await folder('c100', { 'train.bin': cifarRecords(2, 2) });
  assert.equal((await detectDataset(c100)).dataset, 'cifar100');
  assert.equal((await detectDataset(await folder('c100-archive', { 'cifar-100-binary/train.bin': cifarRecords(1, 2) }))).dataset, 'cifar100');
});

test('--dataset given explicitly is kept; auto without --data-dir is the default Fashion-MNIST', async () => {
  const photos = join(root, 'photos');
  assert.equal((await withResolvedDataset({ dataset: 'synthetic', dataDir: photos })).config.dataset, 'synthetic');
  const auto = await withResolvedDataset({ dataset: 'auto' as string, dataDir: undefined });
  assert.equal(auto.config.dataset, 'fashion-mnist');
  const inferred = await withResolvedDataset({ dataset: 'auto' as string, dataDir: photos });
  assert.equal(inferred.config.dataset, 'imagefolder');
  assert.match(inferred.evidence ?? '', /ImageFolder/);
});

test('CIFAR python batches are recognised and refused with the fix (the binary archive), as a DataError', async () => {
  for (const [name, files, want] of [
    ['py10', { 'cifar-10-batches-py/data_batch_1': 'x' }, /CIFAR-10 python .*cifar-10-binary\.tar\.gz.* --dataset=cifar10$/],
    ['py10-flat', { data_batch_1: 'x', 'batches.meta': 'x' }, /CIFAR-10 python/],
    ['py100', { train: 'x', meta: 'x', test: 'x' }, /CIFAR-100 python .*cifar-100-binary\.tar\.gz.* --dataset=cifar100$/],
  ] as const) {
    const dir = await folder(name, files);
    await assert.rejects(detectDataset(dir), (err: Error) => {
      assert.ok(err instanceof DataError, String(err));
      assert.match(err.message, want);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  }
});

test('corrupt IDX files under auto: one line naming the file', async () => {
  const fashion = await readFile(join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
  const cut = await folder('cut-gzip', { 'train-images-idx3-ubyte.gz': fashion.subarray(0, 100_000) });
  await assert.rejects(detectDataset(cut), /cut-gzip\/train-images-idx3-ubyte\.gz: corrupt gzip data \(unexpected end of file\)$/);
  const text = await folder('text-idx', { 'train-images-idx3-ubyte': 'hello\n' });
  await assert.rejects(detectDataset(text), /text-idx\/train-images-idx3-ubyte: not an IDX image file \(bad magic bytes\)$/);
  const short = await folder('short-idx', { 'train-images-idx3-ubyte': encodeIdx([5, 28, 28], new Uint8Array(784)) });
  await assert.rejects(detectDataset(short), /short-idx\/train-images-idx3-ubyte: truncated IDX image file$/);
});

test('a folder that is no data set, a missing one and a file: one line naming --data-dir and --dataset', async () => {
  const junk = await folder('junk', { 'notes.txt': 'x', 'b.csv': 'x' });
  await assert.rejects(detectDataset(junk), (err: Error) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, /^--data-dir=.*junk is no data set this trainer can recognise \(it holds b\.csv, notes\.txt\)/);
    assert.match(err.message, /pass --dataset/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  await assert.rejects(detectDataset(join(root, 'missing')), /^DataError: --data-dir=.*missing does not exist/);
  await assert.rejects(detectDataset(join(junk, 'notes.txt')), /notes\.txt is not a folder/);
  await assert.rejects(detectDataset(await folder('empty')), /\(it is empty\)/);
  // openDataset with auto reports the same DataError.
  await assert.rejects(openDataset({ name: 'auto', dir: junk }, 'train'), (err: Error) => err instanceof DataError && /--dataset/.test(err.message));
});
