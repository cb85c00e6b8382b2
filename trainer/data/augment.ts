// SimCLR augmentation (Chen et al. 2020, appendix A), from a uint8 HWC image into a float32 CHW slot of an
// NCHW batch: random resized crop -> horizontal flip -> colour jitter (p=0.8, random order) -> grayscale
// (p=0.2) -> Gaussian blur (p=0.5) -> normalise. Each step follows torchvision: RandomResizedCrop (10 tries,
// then a centre crop), ColorJitter (factors in [max(0, 1-s), 1+s], hue shift in [-h, h]), RandomGrayscale,
// GaussianBlur (kernel 10% of the side, sigma in [0.1, 2]).
// Decoding is sharp's job (the sources); these per-pixel steps run on the decoded pixels because their semantics
// (HSV hue, luma blends, random order) are not sharp's, and one sample's two views share a decode. The two costly
// steps, resampling and the blur, run in the native image kernels when they are built (trainer/native/image-kernels.ts).
import { gaussianBlurInPlace, simclrBlurKernelSize } from './blur.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, toGrayscale } from './colour.js';
import type { Normalization } from './dataset.js';
import { resizeCropInto, type CropBox } from './resample.js';
import type { Rng } from './rng.js';

export interface AugmentParams {
  outHeight: number;
  outWidth: number;
  /** Crop area as a fraction of the image: [0.08, 1] in SimCLR. */
  scale: readonly [number, number];
  /** Crop aspect ratio width/height: [3/4, 4/3]. */
  ratio: readonly [number, number];
  flipP: number;
  /** Jitter strengths: factors drawn from [max(0, 1-x), 1+x]; 0 turns the op off. */
  brightness: number;
  contrast: number;
  /** Saturation strength (as brightness); absent = off. No effect on 1-channel images. */
  saturation?: number;
  /** Hue shift drawn from [-hue, hue] turns of the colour wheel, hue <= 0.5; absent = off. */
  hue?: number;
  /** Probability that the jitter is applied at all (0.8 in SimCLR). */
  jitterP: number;
  /** Probability of converting to grayscale (0.2 in SimCLR); absent = never. */
  grayscaleP?: number;
  /** Probability of a Gaussian blur (0.5 in SimCLR); absent = never. */
  blurP?: number;
  /** Blur sigma range; default [0.1, 2]. */
  blurSigma?: readonly [number, number];
  /** Odd blur kernel size; default 10% of the shorter output side, made odd. */
  blurKernelSize?: number;
  normalization: Normalization;
}

/**
 * SimCLR's defaults for images of the given output size. `strength` is the colour jitter strength s:
 * brightness, contrast and saturation 0.8s, hue 0.2s (the paper uses s=1 on ImageNet, 0.5 on CIFAR-10).
 */
export function simclrAugmentParams(outHeight: number, outWidth: number, normalization: Normalization, strength = 0.5): AugmentParams {
  if (!(strength >= 0 && strength <= 2.5)) throw new RangeError(`colour jitter strength ${strength} not in [0, 2.5] (hue 0.2s must stay <= 0.5)`);
  return {
    outHeight,
    outWidth,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    flipP: 0.5,
    brightness: 0.8 * strength,
    contrast: 0.8 * strength,
    saturation: 0.8 * strength,
    hue: 0.2 * strength,
    jitterP: 0.8,
    grayscaleP: 0.2,
    blurP: 0.5,
    blurSigma: [0.1, 2],
    normalization,
  };
}

/** The flags that shape training augmentation (--image-size-override, --color-jitter-strength, --crop-scale-min). */
export interface AugmentFlags {
  imageSizeOverride?: number;
  colorJitterStrength?: number;
  cropScaleMin?: number;
}

/** Training augmentation for a data set under the given flags: what the trainer and `simclr preview` both use. */
export function trainingAugmentParams(ds: { height: number; width: number; normalization: Normalization }, flags: AugmentFlags): AugmentParams {
  const h = flags.imageSizeOverride ?? ds.height;
  const w = flags.imageSizeOverride ?? ds.width;
  return { ...simclrAugmentParams(h, w, ds.normalization, flags.colorJitterStrength ?? 0.5), scale: [flags.cropScaleMin ?? 0.08, 1] };
}

/** Parameters that leave pixels unchanged apart from scaling to [0, 1] and normalising. */
export function identityAugmentParams(height: number, width: number, normalization: Normalization): AugmentParams {
  return {
    ...simclrAugmentParams(height, width, normalization),
    scale: [1, 1],
    ratio: [width / height, width / height],
    flipP: 0,
    brightness: 0,
    contrast: 0,
    saturation: 0,
    hue: 0,
    jitterP: 0,
    grayscaleP: 0,
    blurP: 0,
  };
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

/** The largest centred box of the output's aspect ratio: resize-shorter-side-then-centre-crop for test images. */
export function centreCropBox(height: number, width: number, outH: number, outW: number): CropBox {
  const h = Math.min(height, Math.round((width * outH) / outW));
  const w = Math.min(width, Math.round((height * outW) / outH));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

function jitterFactor(rng: Rng, strength: number): number {
  return rng.uniform(Math.max(0, 1 - strength), 1 + strength);
}

/**
 * torchvision ColorJitter: the four ops in a random order, each only if its strength is positive.
 * Draws the order, then all four factors (a fixed count, so later draws do not depend on which ops are on).
 */
function colourJitter(rng: Rng, out: Float32Array, offset: number, channels: number, plane: number, p: AugmentParams): void {
  const order = rng.permutation(4);
  const b = jitterFactor(rng, p.brightness);
  const c = jitterFactor(rng, p.contrast);
  const s = jitterFactor(rng, p.saturation ?? 0);
  const hue = p.hue ?? 0;
  const h = rng.uniform(-hue, hue);
  for (const op of order) {
    if (op === 0 && p.brightness > 0) adjustBrightness(out, offset, channels, plane, b);
    else if (op === 1 && p.contrast > 0) adjustContrast(out, offset, channels, plane, c);
    else if (op === 2 && (p.saturation ?? 0) > 0) adjustSaturation(out, offset, channels, plane, s);
    else if (op === 3 && hue > 0) adjustHue(out, offset, channels, plane, h);
  }
}

/** A blur drawn for a view, applied after the other steps. */
export interface BlurDraw {
  kernelSize: number;
  sigma: number;
}

/**
 * Every step before the blur, in place, and the blur's draw (if any). Draws, in order: crop, flip, jitter gate
 * (+ order and factors), grayscale gate, blur gate (+ sigma), each gate only when its probability is positive:
 * all of a view's draws happen here, synchronously, so a seed fixes the view however the blur then runs.
 */
function augmentBeforeBlur(rng: Rng, image: Uint8Array, srcH: number, srcW: number, channels: number, p: AugmentParams, out: Float32Array, offset: number): BlurDraw | undefined {
  const box = sampleCrop(rng, srcH, srcW, p.scale, p.ratio);
  const flip = p.flipP > 0 && rng.bernoulli(p.flipP);
  resizeCropInto(image, srcW, channels, box, flip, p.outHeight, p.outWidth, out, offset);
  const plane = p.outHeight * p.outWidth;
  if (p.jitterP > 0 && rng.bernoulli(p.jitterP)) colourJitter(rng, out, offset, channels, plane, p);
  const grayP = p.grayscaleP ?? 0;
  if (grayP > 0 && rng.bernoulli(grayP)) toGrayscale(out, offset, channels, plane);
  const blurP = p.blurP ?? 0;
  if (!(blurP > 0 && rng.bernoulli(blurP))) return undefined;
  const [lo, hi] = p.blurSigma ?? [0.1, 2];
  const sigma = rng.uniform(lo, hi);
  return { kernelSize: p.blurKernelSize ?? simclrBlurKernelSize(Math.min(p.outHeight, p.outWidth)), sigma };
}

/** One augmented view of a uint8 HWC image, written as normalised CHW floats at out[offset..] (all in JS). */
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
  const blur = augmentBeforeBlur(rng, image, srcH, srcW, channels, p, out, offset);
  if (blur !== undefined) gaussianBlurInPlace(out, offset, channels, p.outHeight, p.outWidth, blur.kernelSize, blur.sigma);
  normalizeInto(out, offset, channels, p.outHeight * p.outWidth, p.normalization);
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
