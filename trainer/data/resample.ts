// Crop + resize with PIL's resampling (what torchvision's RandomResizedCrop and Resize run on PIL images):
// a separable convolution with the bilinear (triangle) filter whose support grows with the shrink factor, so a
// shrunk crop is antialiased rather than point-sampled; half-pixel centres; weights renormalised at the edges.
// Upscaling is plain bilinear interpolation with the edges clamped, and a same-size box copies pixels exactly.
// The native kernel (trainer/native/image-kernels.ts) computes the same doubles in the same order, so both give equal floats.
import { imageKernels } from '../native/index.js';

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** One axis' filter: output i reads in[index[i * taps + t]] with weight[i * taps + t], t < taps. */
export interface ResampleAxis {
  index: Int32Array;
  weight: Float64Array;
  taps: number;
  size: number;
}

const triangle = (x: number): number => (x < 0 ? (x > -1 ? 1 + x : 0) : x < 1 ? 1 - x : 0);

/**
 * PIL's precompute_coeffs for the bilinear filter: `inSize` source pixels to `outSize` outputs, optionally
 * mirrored (output i takes the filter of outSize - 1 - i). Rows shorter than `taps` are padded with weight-0
 * entries on their last index, which add exactly nothing.
 */
export function resampleAxis(inSize: number, outSize: number, flip = false): ResampleAxis {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1, widened by the shrink factor
  const taps = Math.ceil(support) * 2 + 1;
  const index = new Int32Array(outSize * taps);
  const weight = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const row = (flip ? outSize - 1 - i : i) * taps;
    let sum = 0;
    for (let x = lo; x < hi; x++) sum += triangle((x - centre + 0.5) / filterScale);
    for (let t = 0; t < taps; t++) {
      const x = Math.min(lo + t, hi - 1);
      index[row + t] = x;
      weight[row + t] = lo + t < hi && sum > 0 ? triangle((x - centre + 0.5) / filterScale) / sum : 0;
    }
  }
  return { index, weight, taps, size: outSize };
}

/**
 * Resample `box` of a uint8 HWC image into out[offset..] as CHW floats in [0, 1], mirrored when `flip`.
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
  const x = resampleAxis(box.width, outW, flip);
  const y = resampleAxis(box.height, outH);
  const native = imageKernels();
  if (native !== undefined) {
    native.resampleCrop(src, srcW, channels, box.top, box.left, box.height, box.width, x.index, x.weight, x.taps, y.index, y.weight, y.taps, out, offset);
  } else {
    resampleCropJs(src, srcW, channels, box, x, y, out, offset);
  }
}

/** The reference kernel (and the fallback): rows resampled horizontally once, in doubles, then blended. */
export function resampleCropJs(src: Uint8Array, srcW: number, channels: number, box: CropBox, x: ResampleAxis, y: ResampleAxis, out: Float32Array, offset: number): void {
  const outW = x.size;
  const outH = y.size;
  const rowLen = channels * outW;
  let rowMin = Infinity;
  let rowMax = -Infinity;
  for (const r of y.index) {
    rowMin = Math.min(rowMin, r);
    rowMax = Math.max(rowMax, r);
  }
  const rows = new Float64Array((rowMax - rowMin + 1) * rowLen);
  for (let r = rowMin; r <= rowMax; r++) {
    const line = ((box.top + r) * srcW + box.left) * channels;
    const h = (r - rowMin) * rowLen;
    for (let c = 0; c < channels; c++) {
      for (let ox = 0; ox < outW; ox++) {
        const k = ox * x.taps;
        let acc = 0;
        for (let t = 0; t < x.taps; t++) acc += x.weight[k + t] * src[line + x.index[k + t] * channels + c];
        rows[h + c * outW + ox] = acc;
      }
    }
  }
  const plane = outH * outW;
  const scale = 1 / 255;
  const acc = new Float64Array(outW);
  for (let oy = 0; oy < outH; oy++) {
    const k = oy * y.taps;
    for (let c = 0; c < channels; c++) {
      acc.fill(0);
      for (let t = 0; t < y.taps; t++) {
        const wt = y.weight[k + t];
        const h = (y.index[k + t] - rowMin) * rowLen + c * outW;
        for (let ox = 0; ox < outW; ox++) acc[ox] += wt * rows[h + ox];
      }
      const o = offset + c * plane + oy * outW;
      for (let ox = 0; ox < outW; ox++) out[o + ox] = acc[ox] * scale;
    }
  }
}
