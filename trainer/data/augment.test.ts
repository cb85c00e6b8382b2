import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentInto, identityAugmentParams, sampleCrop, simclrAugmentParams } from './augment.js';
import { resizeCropInto } from './resample.js';
import { Rng } from './rng.js';

const UNIT = { mean: [0], std: [1] };

/** A w x h single-channel image whose pixel value encodes its column (0..w-1) * step. */
function ramp(h: number, w: number, step = 1): Uint8Array {
  return Uint8Array.from({ length: h * w }, (_v, i) => (i % w) * step);
}

test('random resized crop: areas in [0.08, 1] and aspect ratios in [3/4, 4/3] over many draws', () => {
  const rng = Rng.fromSeed(11);
  const size = 224; // large enough that rounding to whole pixels moves ratios by < 1%
  let minArea = 1;
  let maxArea = 0;
  let minRatio = 2;
  let maxRatio = 0;
  for (let i = 0; i < 20_000; i++) {
    const box = sampleCrop(rng, size, size, [0.08, 1], [3 / 4, 4 / 3]);
    assert.ok(box.top >= 0 && box.left >= 0 && box.top + box.height <= size && box.left + box.width <= size);
    const area = (box.width * box.height) / (size * size);
    const ratio = box.width / box.height;
    minArea = Math.min(minArea, area);
    maxArea = Math.max(maxArea, area);
    minRatio = Math.min(minRatio, ratio);
    maxRatio = Math.max(maxRatio, ratio);
  }
  assert.ok(minArea >= 0.08 * 0.98 && minArea < 0.09, `min area ${minArea}`);
  assert.ok(maxArea <= 1 && maxArea > 0.97, `max area ${maxArea}`);
  assert.ok(minRatio >= 0.75 * 0.99 && minRatio < 0.77, `min ratio ${minRatio}`);
  assert.ok(maxRatio <= (4 / 3) * 1.01 && maxRatio > 1.3, `max ratio ${maxRatio}`);
});

test('crop positions cover the image (top-left corner and bottom-right corner both reachable)', () => {
  const rng = Rng.fromSeed(5);
  let touchesTopLeft = 0;
  let touchesBottomRight = 0;
  for (let i = 0; i < 5000; i++) {
    const b = sampleCrop(rng, 28, 28, [0.08, 0.3], [3 / 4, 4 / 3]);
    if (b.top === 0 && b.left === 0) touchesTopLeft++;
    if (b.top + b.height === 28 && b.left + b.width === 28) touchesBottomRight++;
  }
  assert.ok(touchesTopLeft > 0 && touchesBottomRight > 0);
});

test('horizontal flip happens with probability p', () => {
  const img = ramp(8, 8, 30);
  const params = { ...identityAugmentParams(8, 8, UNIT), flipP: 0.5 };
  const rng = Rng.fromSeed(9);
  const out = new Float32Array(64);
  const draws = 4000;
  let flipped = 0;
  for (let i = 0; i < draws; i++) {
    augmentInto(rng, img, 8, 8, 1, params, out, 0);
    if (out[0] > out[7]) flipped++; // the ramp rises left to right unless flipped
  }
  // 5 standard deviations of a binomial(4000, 0.5) is 158.
  assert.ok(Math.abs(flipped - draws / 2) < 158, `flipped ${flipped} of ${draws}`);
  const never = { ...params, flipP: 0 };
  augmentInto(rng, img, 8, 8, 1, never, out, 0);
  assert.ok(out[0] < out[7]);
});

test('identity settings leave pixels unchanged (CHW output from HWC input)', () => {
  const h = 5;
  const w = 7;
  const c = 3;
  const img = Uint8Array.from({ length: h * w * c }, (_v, i) => (i * 37) % 256);
  const out = new Float32Array(c * h * w + 10);
  augmentInto(Rng.fromSeed(1), img, h, w, c, identityAugmentParams(h, w, { mean: [0, 0, 0], std: [1, 1, 1] }), out, 10);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        const got = out[10 + ch * h * w + y * w + x];
        assert.ok(Math.abs(got - img[(y * w + x) * c + ch] / 255) < 1e-6, `pixel ${y},${x},${ch}`);
      }
    }
  }
  assert.equal(out[0], 0, 'nothing written before the offset');
});

test('bilinear resize: 2x upsample of a ramp interpolates, a constant stays constant', () => {
  const img = Uint8Array.of(0, 100, 0, 100); // 2x2, columns 0 and 100
  const out = new Float32Array(16);
  resizeCropInto(img, 2, 1, { top: 0, left: 0, height: 2, width: 2 }, false, 4, 4, out, 0);
  // Half-pixel centres: output x=0..3 map to source x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
  assert.deepEqual([...out.subarray(0, 4)].map((v) => Math.round(v * 255 * 100) / 100), [0, 25, 75, 100]);
  const flat = new Uint8Array(100).fill(77);
  const small = new Float32Array(9);
  resizeCropInto(flat, 10, 1, { top: 2, left: 3, height: 6, width: 5 }, true, 3, 3, small, 0);
  for (const v of small) assert.ok(Math.abs(v - 77 / 255) < 1e-6);
});

test('brightness/contrast jitter: values stay in [0, 1] before normalising and change the image', () => {
  const img = ramp(16, 16, 16);
  const p = { ...identityAugmentParams(16, 16, UNIT), brightness: 0.4, contrast: 0.4, jitterP: 1 };
  const rng = Rng.fromSeed(2);
  const out = new Float32Array(256);
  let changed = 0;
  for (let i = 0; i < 200; i++) {
    augmentInto(rng, img, 16, 16, 1, p, out, 0);
    for (const v of out) assert.ok(v >= 0 && v <= 1);
    if (Math.abs(out[200] - img[200] / 255) > 1e-3) changed++;
  }
  assert.ok(changed > 190, `jitter changed only ${changed} of 200`);
});

test('normalisation: (x - mean) / std per channel', () => {
  const img = new Uint8Array(4 * 2).fill(255); // 2x2, 2 channels
  const out = new Float32Array(8);
  augmentInto(Rng.fromSeed(1), img, 2, 2, 2, identityAugmentParams(2, 2, { mean: [0.5, 0], std: [0.25, 2] }), out, 0);
  assert.deepEqual([...out], [2, 2, 2, 2, 0.5, 0.5, 0.5, 0.5]);
});

test('same seed -> same view; SimCLR defaults produce varied views', () => {
  const img = ramp(28, 28, 9);
  const p = simclrAugmentParams(28, 28, UNIT);
  const a = new Float32Array(784);
  const b = new Float32Array(784);
  augmentInto(Rng.fromSeed(123), img, 28, 28, 1, p, a, 0);
  augmentInto(Rng.fromSeed(123), img, 28, 28, 1, p, b, 0);
  assert.deepEqual(a, b);
  augmentInto(Rng.fromSeed(124), img, 28, 28, 1, p, b, 0);
  assert.notDeepEqual(a, b);
});

/** A colourful 3-channel image: red rises left to right, green top to bottom, blue constant. */
function colourful(h: number, w: number): Uint8Array {
  const img = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      img[i] = Math.round((255 * x) / (w - 1));
      img[i + 1] = Math.round((255 * y) / (h - 1));
      img[i + 2] = 90;
    }
  }
  return img;
}

const RGB_UNIT = { mean: [0, 0, 0], std: [1, 1, 1] };

/** Count of draws (out of n) for which `hit` holds on the augmented view. */
function countViews(p: ReturnType<typeof identityAugmentParams>, img: Uint8Array, h: number, w: number, n: number, hit: (out: Float32Array) => boolean): number {
  const rng = Rng.fromSeed(17);
  const out = new Float32Array(3 * h * w);
  let count = 0;
  for (let i = 0; i < n; i++) {
    augmentInto(rng, img, h, w, 3, p, out, 0);
    if (hit(out)) count++;
  }
  return count;
}

const equalChannels = (plane: number) => (out: Float32Array): boolean => {
  for (let i = 0; i < plane; i++) if (out[i] !== out[plane + i] || out[i] !== out[2 * plane + i]) return false;
  return true;
};

test('grayscale happens with probability p=0.2, and gives equal channels', () => {
  const img = colourful(12, 12);
  const p = { ...identityAugmentParams(12, 12, RGB_UNIT), grayscaleP: 0.2 };
  const n = 4000;
  const grey = countViews(p, img, 12, 12, n, equalChannels(144));
  // binomial(4000, 0.2): sd 25; allow 5 sd.
  assert.ok(Math.abs(grey - 0.2 * n) < 127, `grayscale ${grey} of ${n}`);
});

test('colour jitter is applied with probability p=0.8 (hue only, so any change is the jitter)', () => {
  const img = colourful(12, 12);
  const p = { ...identityAugmentParams(12, 12, RGB_UNIT), hue: 0.5, jitterP: 0.8 };
  const n = 4000;
  const ref = new Float32Array(3 * 144);
  augmentInto(Rng.fromSeed(1), img, 12, 12, 3, identityAugmentParams(12, 12, RGB_UNIT), ref, 0);
  const changed = countViews(p, img, 12, 12, n, (out) => out.some((v, i) => Math.abs(v - ref[i]) > 1e-3));
  assert.ok(Math.abs(changed - 0.8 * n) < 127, `jittered ${changed} of ${n}`);
});

test('blur happens with probability p=0.5 and smooths (lower total variation), never sharpens', () => {
  const h = 40;
  const img = colourful(h, h);
  for (let i = 0; i < img.length; i += 7) img[i] = 255 - img[i]; // add edges for the blur to remove
  const base = identityAugmentParams(h, h, RGB_UNIT);
  const ref = new Float32Array(3 * h * h);
  augmentInto(Rng.fromSeed(1), img, h, h, 3, base, ref, 0);
  const variation = (a: Float32Array): number => {
    let tv = 0;
    for (let i = 1; i < a.length; i++) if (i % h !== 0) tv += Math.abs(a[i] - a[i - 1]);
    return tv;
  };
  const tv0 = variation(ref);
  let blurred = 0;
  const p = { ...base, blurP: 0.5, blurSigma: [0.5, 2] as const };
  const n = 2000;
  countViews(p, img, h, h, n, (out) => {
    const tv = variation(out);
    assert.ok(tv <= tv0 + 1e-3);
    if (tv < 0.9 * tv0) blurred++;
    return false;
  });
  assert.ok(Math.abs(blurred - 0.5 * n) < 112, `blurred ${blurred} of ${n}`);
});

test('SimCLR defaults: strength s scales jitter as 0.8s / 0.2s; out-of-range strength is refused', () => {
  const p = simclrAugmentParams(224, 224, RGB_UNIT, 1);
  assert.deepEqual([p.brightness, p.contrast, p.saturation, p.hue, p.jitterP, p.grayscaleP, p.blurP], [0.8, 0.8, 0.8, 0.2, 0.8, 0.2, 0.5]);
  assert.deepEqual(p.blurSigma, [0.1, 2]);
  assert.equal(simclrAugmentParams(32, 32, RGB_UNIT).brightness, 0.4);
  assert.throws(() => simclrAugmentParams(32, 32, RGB_UNIT, 3), /strength 3 not in \[0, 2.5\]/);
});
