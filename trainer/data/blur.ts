// Separable Gaussian blur of one CHW float image in place, as torchvision's GaussianBlur: an odd kernel of
// `kernelSize` taps (SimCLR: 10% of the side), weights exp(-x^2 / 2 sigma^2) normalised, reflect padding.
// Taps further than 4 sigma out are dropped (they hold < 1e-4 of the weight), which makes the common
// sigma < 1 case several times cheaper than the full 10%-of-side kernel.
// Shapes: img [C, H, W] at `offset`.
// Why not libvips (sharp's blur): measured on 224 px RGB, its float-precision blur cost as much CPU as the JS
// kernel, and its fast integer-mask blur was off by ~2 grey levels on average (it rounds the mask coarsely).
// The native kernel (trainer/native/image-kernels.ts) computes exactly what gaussianBlurJs does, several times faster.
import { imageKernels } from '../native/index.js';

/** The odd kernel size SimCLR uses for a side: 10% of it, rounded down, made odd (torchvision needs odd). */
export function simclrBlurKernelSize(side: number): number {
  const k = Math.floor(0.1 * side);
  return k % 2 === 1 ? k : k + 1;
}

/** Normalised 1-D weights for offsets -r..r, r = min((kernelSize - 1) / 2, ceil(4 sigma)). */
export function gaussianWeights(kernelSize: number, sigma: number): Float32Array {
  const radius = Math.min((kernelSize - 1) >> 1, Math.ceil(4 * sigma));
  const w = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let x = -radius; x <= radius; x++) {
    const v = Math.exp(-0.5 * (x / sigma) ** 2);
    w[x + radius] = v;
    sum += v;
  }
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  return w;
}

/** Reflect (without repeating the edge) an index into [0, n): -1 -> 1, n -> n - 2. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

export function gaussianBlurInPlace(
  img: Float32Array,
  offset: number,
  channels: number,
  height: number,
  width: number,
  kernelSize: number,
  sigma: number,
): void {
  const w = gaussianWeights(kernelSize, sigma);
  if (w.length === 1) return;
  const native = imageKernels();
  if (native !== undefined) native.gaussianBlur(img, offset, channels, height, width, w);
  else gaussianBlurJs(img, offset, channels, height, width, w);
}

/**
 * The reference kernel (and the fallback when the addon is not built). Each output is
 * w[r] x[0] + sum_k w[k] (x[k - r] + x[r - k]) summed in doubles in that order and rounded once to float32; the
 * kernel's symmetry makes each pair of taps cost one multiply. Loops run over whole rows (x innermost), which V8
 * and the C++ compiler both turn into tight loops.
 */
export function gaussianBlurJs(img: Float32Array, offset: number, channels: number, height: number, width: number, w: Float32Array): void {
  const r = (w.length - 1) >> 1;
  const plane = height * width;
  const tmp = new Float32Array(plane);
  const padded = new Float32Array(width + 2 * r);
  const acc = new Float64Array(width);
  // Rows of the reflected source for the vertical pass, as plane offsets.
  const rowIdx = new Int32Array(height + 2 * r);
  for (let y = -r; y < height + r; y++) rowIdx[y + r] = reflect(y, height) * width;
  const wc = w[r];
  for (let c = 0; c < channels; c++) {
    const base = offset + c * plane;
    // Horizontal pass into tmp, through one reflect-padded copy of each row.
    for (let y = 0; y < height; y++) {
      const row = base + y * width;
      for (let i = -r; i < width + r; i++) padded[i + r] = img[row + reflect(i, width)];
      for (let x = 0; x < width; x++) acc[x] = wc * padded[x + r];
      for (let k = 0; k < r; k++) {
        const wk = w[k];
        const far = 2 * r - k;
        for (let x = 0; x < width; x++) acc[x] += wk * (padded[x + k] + padded[x + far]);
      }
      tmp.set(acc, y * width);
    }
    // Vertical pass back into img.
    for (let y = 0; y < height; y++) {
      const centre = rowIdx[y + r];
      for (let x = 0; x < width; x++) acc[x] = wc * tmp[centre + x];
      for (let k = 0; k < r; k++) {
        const wk = w[k];
        const above = rowIdx[y + k];
        const below = rowIdx[y + 2 * r - k];
        for (let x = 0; x < width; x++) acc[x] += wk * (tmp[above + x] + tmp[below + x]);
      }
      img.set(acc, base + y * width);
    }
  }
}
