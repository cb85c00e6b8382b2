// Augmentation grids as PNG images, for TensorBoard (rank 0 logs `augmentation1` / `augmentation2`, as the
// seed implementation does) and for `simclr preview`. Views are de-normalised back to 0..255 and tiled
// like torchvision's make_grid (2 px of black padding); PNG encoding is sharp's.
import sharp from 'sharp';
import type { Normalization } from './dataset.js';
import type { Nchw } from './loader.js';

export interface PngImage {
  png: Buffer;
  height: number;
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
}

const PAD = 2;

/** What a grid needs of a batch (a ContrastiveBatch fits). */
export interface ViewsBatch {
  readonly view1: Float32Array;
  readonly view2: Float32Array;
  readonly shape: Nchw;
}

/**
 * Tiles images (each one of `sources`, index `item`) into rows of `perRow`, de-normalising to uint8 HWC.
 * Shapes: each source [B, C, H, W] normalised floats -> out [rows*(H+PAD)+PAD, perRow*(W+PAD)+PAD, C] uint8.
 */
function tile(tiles: { source: Float32Array; item: number }[], shape: Nchw, perRow: number, norm: Normalization): { pixels: Buffer; height: number; width: number } {
  const [, c, h, w] = shape;
  const rows = Math.ceil(tiles.length / perRow);
  const height = rows * (h + PAD) + PAD;
  const width = perRow * (w + PAD) + PAD;
  const pixels = Buffer.alloc(height * width * c);
  tiles.forEach(({ source, item }, t) => {
    const top = PAD + Math.floor(t / perRow) * (h + PAD);
    const left = PAD + (t % perRow) * (w + PAD);
    for (let ch = 0; ch < c; ch++) {
      const base = (item * c + ch) * h * w;
      const std = norm.std[ch];
      const mean = norm.mean[ch];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = Math.round((source[base + y * w + x] * std + mean) * 255);
          pixels[((top + y) * width + left + x) * c + ch] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  });
  return { pixels, height, width };
}

async function encode(t: { pixels: Buffer; height: number; width: number }, channels: number): Promise<PngImage> {
  const img = sharp(t.pixels, { raw: { width: t.width, height: t.height, channels: channels as 1 | 3 } });
  // sharp writes sRGB unless told otherwise: a grayscale grid stays a 1-channel PNG.
  const png = await (channels === 1 ? img.toColourspace('b-w') : img).png().toBuffer();
  return { png, height: t.height, width: t.width, channels };
}

function count(batch: ViewsBatch, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`grid of ${n} images: use a positive integer`);
  return Math.min(n, batch.shape[0]);
}

/**
 * The seed's two TensorBoard images: the first n images of view 1 and of view 2, each in a square-ish
 * grid with the same layout, so tile k of augmentation1 and of augmentation2 are one sample's two views.
 */
export async function augmentationGrids(batch: ViewsBatch, n: number, norm: Normalization): Promise<{ augmentation1: PngImage; augmentation2: PngImage }> {
  const k = count(batch, n);
  const perRow = Math.ceil(Math.sqrt(k));
  const items = Array.from({ length: k }, (_v, i) => i);
  const grid = (source: Float32Array): Promise<PngImage> => encode(tile(items.map((item) => ({ source, item })), batch.shape, perRow, norm), batch.shape[1]);
  const [augmentation1, augmentation2] = await Promise.all([grid(batch.view1), grid(batch.view2)]);
  return { augmentation1, augmentation2 };
}

/** One image of n pairs, side by side (view 1, view 2), `pairsPerRow` pairs to a row: what `simclr preview` writes. */
export async function augmentationPairGrid(batch: ViewsBatch, n: number, norm: Normalization, pairsPerRow = 4): Promise<PngImage> {
  const k = count(batch, n);
  const tiles = Array.from({ length: k }, (_v, i) => [{ source: batch.view1, item: i }, { source: batch.view2, item: i }]).flat();
  return encode(tile(tiles, batch.shape, 2 * Math.min(pairsPerRow, k), norm), batch.shape[1]);
}
