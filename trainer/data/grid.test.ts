import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { identityAugmentParams, simclrAugmentParams } from './augment.js';
import { augmentationGrids, augmentationPairGrid } from './grid.js';
import { ContrastiveLoader } from './loader.js';
import { loadMnist } from './mnist.js';

const fm = await loadMnist({ family: 'fashion-mnist', split: 'test' });

async function decode(png: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const stored = (await sharp(png).metadata()).channels; // what the PNG file holds
  const { data, info } = await (stored === 1 ? sharp(png).toColourspace('b-w') : sharp(png)).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, stored);
  return { data, width: info.width, height: info.height, channels: stored };
}

test('augmentation grids: identity views of real images come back as the original pixels, tile by tile', async () => {
  const loader = new ContrastiveLoader(fm, { globalBatchSize: 10, seed: 1, augment: identityAugmentParams(28, 28, fm.normalization) });
  const batch = await loader.batch(0, 0);
  const { augmentation1, augmentation2 } = await augmentationGrids(batch, 5, fm.normalization);
  // 5 images -> 3 per row, 2 rows; 2 px padding: 3 * 30 + 2 = 92 wide, 2 * 30 + 2 = 62 high.
  assert.deepEqual([augmentation1.width, augmentation1.height, augmentation1.channels], [92, 62, 1]);
  for (const grid of [augmentation1, augmentation2]) {
    const img = await decode(grid.png);
    assert.deepEqual([img.width, img.height, img.channels], [92, 62, 1]);
    for (let t = 0; t < 5; t++) {
      const original = fm.getSync(batch.indices[t]).image;
      const top = 2 + Math.floor(t / 3) * 30;
      const left = 2 + (t % 3) * 30;
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          if (img.data[(top + y) * 92 + left + x] !== original[y * 28 + x]) assert.fail(`tile ${t} pixel ${y},${x}`);
        }
      }
    }
    assert.equal(img.data[0], 0, 'padding is black');
  }
});

test('pair grid: view 1 and view 2 of each sample side by side; SimCLR views of a pair differ', async () => {
  const loader = new ContrastiveLoader(fm, { globalBatchSize: 8, seed: 3, augment: simclrAugmentParams(28, 28, fm.normalization, 1) });
  const batch = await loader.batch(0, 0);
  const grid = await augmentationPairGrid(batch, 6, fm.normalization, 3);
  // 6 pairs, 3 pairs (6 tiles) per row, 2 rows.
  assert.deepEqual([grid.width, grid.height], [6 * 30 + 2, 2 * 30 + 2]);
  const img = await decode(grid.png);
  const tileAt = (t: number): number[] => {
    const top = 2 + Math.floor(t / 6) * 30;
    const left = 2 + (t % 6) * 30;
    return Array.from({ length: 28 * 28 }, (_v, p) => img.data[(top + Math.floor(p / 28)) * grid.width + left + (p % 28)]);
  };
  assert.notDeepEqual(tileAt(0), tileAt(1));
  await assert.rejects(augmentationPairGrid(batch, 0, fm.normalization), /grid of 0 images: use a positive integer/);
});
