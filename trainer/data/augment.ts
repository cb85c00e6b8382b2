// SimCLR augmentation for this stage: random resized crop -> horizontal flip -> brightness/contrast
// jitter -> normalise, from a uint8 HWC image into a float32 CHW slot of an NCHW batch.
// The crop follows torchvision's RandomResizedCrop (10 tries, then a centre crop); jitter follows
// torchvision's ColorJitter (factor in [1-s, 1+s], applied in random order, clamped to [0, 1]).
import type { Normalization } from './dataset.js';
import type { Rng } from './rng.js';

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface AugmentParams {
  outHeight: number;
  outWidth: number;
  /** Crop area as a fraction of the image: [0.08, 1] in SimCLR. */
  scale: readonly [number, number];
  /** Crop aspect ratio width/height: [3/4, 4/3]. */
  ratio: readonly [number, number];
  flipP: number;
  /** Jitter strengths s: factors drawn from [max(0, 1-s), 1+s]. */
  brightness: number;
  contrast: number;
  /** Probability that the jitter is applied at all (0.8 in SimCLR). */
  jitterP: number;
  normalization: Normalization;
}

/** SimCLR's defaults for this stage, for images of the given output size. */
export function simclrAugmentParams(outHeight: number, outWidth: number, normalization: Normalization): AugmentParams {
  return {
    outHeight,
    outWidth,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    flipP: 0.5,
    brightness: 0.4,
    contrast: 0.4,
    jitterP: 0.8,
    normalization,
  };
}

/** Parameters that leave pixels unchanged apart from scaling to [0, 1] and normalising. */
export function identityAugmentParams(height: number, width: number, normalization: Normalization): AugmentParams {
  return { ...simclrAugmentParams(height, width, normalization), scale: [1, 1], ratio: [width / height, width / height], flipP: 0, brightness: 0, contrast: 0, jitterP: 0 };
}

/** torchvision RandomResizedCrop.get_params. */
export function sampleCrop(rng: Rng, height: number, width: number, scale: readonly [number, number], ratio: readonly [number, number]): CropBox {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w };
    }
  }
  // Fallback: the largest centre crop whose aspect ratio is within range.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * Bilinear resize of `box` in a uint8 HWC image into out[offset..] as CHW floats in [0, 1]
 * (half-pixel centres, edges clamped to the box; a same-size box copies pixels exactly).
 * Shapes: src [srcH, srcW, C] uint8 -> out [C, outH, outW] float32.
 */
export function resizeCropInto(
  src: Uint8Array,
  srcW: number,
  channels: number,
  box: CropBox,
  flip: boolean,
  outH: number,
  outW: number,
  out: Float32Array,
  offset: number,
): void {
  const plane = outH * outW;
  // Per output column, once: the two source columns (as HWC element offsets) and the blend weight.
  const xa = new Int32Array(outW);
  const xb = new Int32Array(outW);
  const wxs = new Float32Array(outW);
  const sx = box.width / outW;
  for (let ox = 0; ox < outW; ox++) {
    const fx = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), box.width - 1);
    const x0 = Math.floor(fx);
    const dst = flip ? outW - 1 - ox : ox;
    xa[dst] = (box.left + x0) * channels;
    xb[dst] = (box.left + Math.min(x0 + 1, box.width - 1)) * channels;
    wxs[dst] = fx - x0;
  }
  const sy = box.height / outH;
  const scale = 1 / 255;
  for (let oy = 0; oy < outH; oy++) {
    const fy = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), box.height - 1);
    const y0 = Math.floor(fy);
    const wy = fy - y0;
    const r0 = (box.top + y0) * srcW * channels;
    const r1 = (box.top + Math.min(y0 + 1, box.height - 1)) * srcW * channels;
    for (let c = 0; c < channels; c++) {
      const rowOut = offset + c * plane + oy * outW;
      for (let x = 0; x < outW; x++) {
        const a = xa[x] + c;
        const b = xb[x] + c;
        const wx = wxs[x];
        const top = src[r0 + a] + (src[r0 + b] - src[r0 + a]) * wx;
        const bottom = src[r1 + a] + (src[r1 + b] - src[r1 + a]) * wx;
        out[rowOut + x] = (top + (bottom - top) * wy) * scale;
      }
    }
  }
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
// ITU-R 601 luma, as torchvision's rgb_to_grayscale.
const LUMA = [0.299, 0.587, 0.114];

/** Multiply by factor, clamp. Shape: img [C, HW] at offset. */
function adjustBrightness(img: Float32Array, offset: number, length: number, factor: number): void {
  for (let i = offset; i < offset + length; i++) img[i] = clamp01(img[i] * factor);
}

/** Blend with the mean grey level: (x - m) * factor + m, clamp. Shape: img [C, HW] at offset. */
function adjustContrast(img: Float32Array, offset: number, channels: number, plane: number, factor: number): void {
  let mean = 0;
  for (let c = 0; c < channels; c++) {
    const weight = channels === 3 ? LUMA[c] : 1 / channels;
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += img[offset + c * plane + i];
    mean += (weight * sum) / plane;
  }
  for (let i = offset; i < offset + channels * plane; i++) img[i] = clamp01((img[i] - mean) * factor + mean);
}

function jitterFactor(rng: Rng, strength: number): number {
  return strength > 0 ? rng.uniform(Math.max(0, 1 - strength), 1 + strength) : 1;
}

/**
 * One augmented view of a uint8 HWC image, written as normalised CHW floats at out[offset..].
 * Draws, in order: crop, flip, jitter gate, order, factors, so a seed fixes the view exactly.
 */
export function augmentInto(
  rng: Rng,
  image: Uint8Array,
  srcH: number,
  srcW: number,
  channels: number,
  p: AugmentParams,
  out: Float32Array,
  offset: number,
): void {
  const box = sampleCrop(rng, srcH, srcW, p.scale, p.ratio);
  const flip = p.flipP > 0 && rng.bernoulli(p.flipP);
  resizeCropInto(image, srcW, channels, box, flip, p.outHeight, p.outWidth, out, offset);
  const plane = p.outHeight * p.outWidth;
  if (p.jitterP > 0 && rng.bernoulli(p.jitterP)) {
    const brightnessFirst = rng.bernoulli(0.5);
    const b = jitterFactor(rng, p.brightness);
    const c = jitterFactor(rng, p.contrast);
    if (brightnessFirst) adjustBrightness(out, offset, channels * plane, b);
    adjustContrast(out, offset, channels, plane, c);
    if (!brightnessFirst) adjustBrightness(out, offset, channels * plane, b);
  }
  normalizeInto(out, offset, channels, plane, p.normalization);
}

/** (x - mean[c]) / std[c] in place. Shape: img [C, HW] at offset. */
export function normalizeInto(img: Float32Array, offset: number, channels: number, plane: number, n: Normalization): void {
  for (let c = 0; c < channels; c++) {
    const mean = n.mean[c];
    const inv = 1 / n.std[c];
    const start = offset + c * plane;
    for (let i = start; i < start + plane; i++) img[i] = (img[i] - mean) * inv;
  }
}
