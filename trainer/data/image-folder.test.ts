import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { simclrAugmentParams } from './augment.js';
import { openDataset, openValidationSet } from './index.js';
import { openImageFolder } from './image-folder.js';
import { ContrastiveLoader, evalBatches } from './loader.js';
import { loadMnist } from './mnist.js';

const fmnist = await loadMnist({ family: 'fashion-mnist', split: 'test' });

/** Fashion-MNIST test image i as a 28x28 grayscale sharp pipeline. */
const fm = (i: number): ReturnType<typeof sharp> => sharp(Buffer.from(fmnist.getSync(i).image), { raw: { width: 28, height: 28, channels: 1 } });

/** Fashion-MNIST test image i as orange RGB (R = v, G = 0.6 v, B = 0.2 v): a colour image. */
function orange(i: number): ReturnType<typeof sharp> {
  const grey = fmnist.getSync(i).image;
  const rgb = Buffer.alloc(28 * 28 * 3);
  for (let p = 0; p < 28 * 28; p++) {
    rgb[3 * p] = grey[p];
    rgb[3 * p + 1] = Math.round(0.6 * grey[p]);
    rgb[3 * p + 2] = Math.round(0.2 * grey[p]);
  }
  return sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } });
}

/** The first `count` test-set indices of class `label`. */
function indicesOf(label: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; out.length < count; i++) if (fmnist.label(i) === label) out.push(i);
  return out;
}

/**
 * <root>/train: three classes of real Fashion-MNIST images as PNG (grayscale, lossless), JPEG (tinted RGB,
 * upscaled to 56x42) and WebP, plus a hidden file, a hidden folder, a non-image and a corrupt JPEG.
 */
async function writeFolder(root: string): Promise<{ pngIndex: number }> {
  const classes = ['sneaker', 'bag', 'trouser']; // labels 7, 8, 1
  const labels = [7, 8, 1];
  for (const [k, name] of classes.entries()) {
    const dir = join(root, 'train', name);
    await mkdir(dir, { recursive: true });
    const [a, b, c] = indicesOf(labels[k], 3);
    await fm(a).png().toFile(join(dir, 'a.png'));
    await orange(b).resize(56, 42).jpeg({ quality: 95 }).toFile(join(dir, 'b.JPG'));
    await fm(c).webp({ lossless: true }).toFile(join(dir, 'c.webp'));
  }
  await writeFile(join(root, 'train', 'bag', '.DS_Store'), 'junk');
  await mkdir(join(root, 'train', '.thumbnails'));
  await writeFile(join(root, 'train', 'sneaker', 'notes.txt'), 'not an image');
  const real = await fm(indicesOf(8, 1)[0]).jpeg().toBuffer();
  await writeFile(join(root, 'train', 'bag', 'broken.jpg'), real.subarray(0, 100)); // truncated: header only
  return { pngIndex: indicesOf(8, 1)[0] };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'imagefolder-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('imagefolder: sorted classes, PNG/JPEG/WebP decoded to RGB, skips counted in one log line', () =>
  withDir(async (dir) => {
    const { pngIndex } = await writeFolder(dir);
    const warnings: string[] = [];
    const ds = await openImageFolder({ dir, split: 'train', size: 32, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(ds.classNames, ['bag', 'sneaker', 'trouser']);
    assert.equal(ds.length, 10, '9 images + the corrupt one (found only when decoded)');
    assert.deepEqual([ds.channels, ds.height, ds.width, ds.numClasses], [3, 32, 32, 3]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /skipped 2 hidden entries and 1 non-image files; 10 images in 3 classes/);
    // bag: a.png, b.JPG, broken.jpg, c.webp (sorted by name).
    assert.deepEqual([0, 1, 2, 3].map((i) => ds.label(i)), [0, 0, 0, 0]);
    const png = await ds.get(0);
    assert.deepEqual([png.height, png.width, png.label], [28, 28, 0]);
    const original = fmnist.getSync(pngIndex).image;
    for (let p = 0; p < 28 * 28; p++) {
      for (let ch = 0; ch < 3; ch++) assert.equal(png.image[3 * p + ch], original[p], `grey PNG pixel ${p} channel ${ch}`);
    }
    const jpeg = await ds.get(1);
    assert.deepEqual([jpeg.height, jpeg.width], [42, 56]);
    let redMinusBlue = 0;
    for (let p = 0; p < 42 * 56; p++) redMinusBlue += jpeg.image[3 * p] - jpeg.image[3 * p + 2];
    assert.ok(redMinusBlue > 0, 'the orange tint survives: a colour JPEG keeps its channels');
  }));

test('imagefolder: a corrupt image is reported by path once and replaced by the next readable one', () =>
  withDir(async (dir) => {
    await writeFolder(dir);
    const warnings: string[] = [];
    const ds = await openImageFolder({ dir, split: 'train', size: 32, onWarning: (m) => warnings.push(m) });
    warnings.length = 0;
    const replaced = await ds.get(2); // broken.jpg -> c.webp
    const next = await ds.get(3);
    assert.deepEqual(replaced.image, next.image);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /skipping unreadable image .*bag\/broken\.jpg/);
    await ds.get(2);
    assert.equal(warnings.length, 1, 'reported once');
    // A whole epoch of training batches and the eval pass run through it.
    const loader = new ContrastiveLoader(ds, { globalBatchSize: 5, seed: 1, augment: simclrAugmentParams(32, 32, ds.normalization, 1) });
    let batches = 0;
    for await (const b of loader.epoch(0)) {
      assert.deepEqual(b.shape, [5, 3, 32, 32]);
      assert.ok(b.view1.every(Number.isFinite));
      batches++;
    }
    assert.equal(batches, 2);
    let seen = 0;
    for await (const e of evalBatches(ds, { batchSize: 4, outHeight: 32, outWidth: 32 })) seen += e.shape[0];
    assert.equal(seen, 10);
  }));

test('imagefolder: missing or empty split is an error naming the path', () =>
  withDir(async (dir) => {
    await assert.rejects(openDataset({ name: 'imagefolder', dir }, 'test'), (err: Error) => {
      assert.match(err.message, new RegExp(`cannot read ${join(dir, 'test')}: --data-dir must hold train/ and test/`));
      return true;
    });
    await mkdir(join(dir, 'test', 'cat'), { recursive: true });
    await writeFile(join(dir, 'test', 'cat', 'readme.md'), 'no images here');
    await assert.rejects(openDataset({ name: 'imagefolder', dir }, 'test'), new RegExp(`no images in ${join(dir, 'test')}`));
  }));

test('imagefolder: large images are shrunk on decode to maxDecodeSide (shorter side), small ones are not enlarged', () =>
  withDir(async (dir) => {
    await mkdir(join(dir, 'train', 'x'), { recursive: true });
    await fm(0).resize(400, 300).jpeg().toFile(join(dir, 'train', 'x', 'big.jpg'));
    await fm(1).png().toFile(join(dir, 'train', 'x', 'small.png'));
    const ds = await openImageFolder({ dir, split: 'train', size: 32, maxDecodeSide: 100 });
    const big = await ds.get(0);
    assert.deepEqual([big.height, big.width], [100, 133]);
    const small = await ds.get(1);
    assert.deepEqual([small.height, small.width], [28, 28]);
    assert.equal((await readFile(join(dir, 'train', 'x', 'small.png'))).length > 0, true);
  }));

test('valid split: opened when <data-dir>/valid exists with train/\'s labels; empty, an extra class or a source without one is an error', () =>
  withDir(async (dir) => {
    await writeFolder(dir);
    assert.equal(await openValidationSet({ name: 'imagefolder', dir }), undefined, 'no valid/ folder: no valid split');
    await mkdir(join(dir, 'valid', 'bag'), { recursive: true });
    await assert.rejects(openValidationSet({ name: 'imagefolder', dir }), new RegExp(`no images in ${join(dir, 'valid')}`));
    await fm(indicesOf(8, 2)[1]).png().toFile(join(dir, 'valid', 'bag', 'x.png'));
    await mkdir(join(dir, 'valid', 'trouser'));
    await fm(indicesOf(1, 1)[0]).png().toFile(join(dir, 'valid', 'trouser', 'y.png'));
    const valid = await openValidationSet({ name: 'imagefolder', dir, onWarning: () => {} });
    assert.ok(valid);
    assert.equal(valid.split, 'valid');
    assert.deepEqual(valid.classNames, ['bag', 'sneaker', 'trouser'], "train/'s classes, though valid/ lacks sneaker");
    assert.deepEqual([valid.label(0), valid.label(1)], [0, 2]);
    await mkdir(join(dir, 'valid', 'hat'));
    await assert.rejects(openValidationSet({ name: 'imagefolder', dir }), new RegExp(`${join(dir, 'valid', 'hat')} is a class train/ does not have`));
    assert.equal(await openValidationSet({ name: 'fashion-mnist' }), undefined);
    await assert.rejects(openDataset({ name: 'fashion-mnist' }, 'valid'), /--dataset=fashion-mnist has no valid split: only imagefolder/);
  }));
