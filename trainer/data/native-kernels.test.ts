import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianBlurJs, gaussianWeights } from './blur.js';
import { imageKernels } from '../native/index.js';
import { resampleAxis, resampleCropJs } from './resample.js';
import { Rng } from './rng.js';

// `make test` builds the addon first; a missing addon here means the build is broken, not that JS should do.
const native = imageKernels();

function firstDifference(a: Float32Array, b: Float32Array): string {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

test('the image addon is built and loads', () => {
  assert.ok(native, 'native/build/Release/simclr_image.node missing: run `npm run build:native`');
});

test('native crop + resample equals the JS kernel bit for bit (upscale, downscale, flip, 1 and 3 channels)', () => {
  assert.ok(native);
  const rng = Rng.fromSeed(7);
  for (const channels of [1, 3]) {
    const [h, w] = [57, 83];
    const src = Uint8Array.from({ length: h * w * channels }, () => rng.int(256));
    for (let trial = 0; trial < 40; trial++) {
      const bh = 1 + rng.int(h);
      const bw = 1 + rng.int(w);
      const box = { top: rng.int(h - bh + 1), left: rng.int(w - bw + 1), height: bh, width: bw };
      const [oh, ow] = [1 + rng.int(40), 1 + rng.int(40)];
      const flip = rng.bernoulli(0.5);
      const x = resampleAxis(bw, ow, flip);
      const y = resampleAxis(bh, oh);
      const offset = 5;
      const js = new Float32Array(offset + channels * oh * ow + 3);
      const nat = js.slice();
      resampleCropJs(src, w, channels, box, x, y, js, offset);
      native.resampleCrop(src, w, channels, box.top, box.left, bh, bw, x.index, x.weight, x.taps, y.index, y.weight, y.taps, nat, offset);
      assert.equal(firstDifference(js, nat), 'none', `box ${JSON.stringify(box)} -> ${oh}x${ow}`);
    }
  }
});

test('native Gaussian blur equals the JS kernel bit for bit', () => {
  assert.ok(native);
  const rng = Rng.fromSeed(8);
  for (const [c, h, w, k, sigma] of [[3, 31, 47, 23, 2], [1, 16, 16, 3, 0.9], [3, 224, 224, 23, 0.3], [2, 5, 40, 9, 1.5]] as const) {
    const img = Float32Array.from({ length: 2 + c * h * w }, () => rng.float());
    const weights = gaussianWeights(k, sigma);
    const js = img.slice();
    const nat = img.slice();
    gaussianBlurJs(js, 2, c, h, w, weights);
    native.gaussianBlur(nat, 2, c, h, w, weights);
    assert.equal(firstDifference(js, nat), 'none', `${c}x${h}x${w} k=${k} sigma=${sigma}`);
  }
});

test('native kernels refuse out-of-bounds arguments instead of touching memory', () => {
  assert.ok(native);
  const src = new Uint8Array(10 * 10);
  const x = resampleAxis(10, 4);
  const y = resampleAxis(10, 4);
  assert.throws(() => native.resampleCrop(src, 10, 1, 1, 0, 10, 10, x.index, x.weight, x.taps, y.index, y.weight, y.taps, new Float32Array(16), 0), /crop box is outside/);
  assert.throws(() => native.resampleCrop(src, 10, 1, 0, 0, 10, 10, x.index, x.weight, x.taps, y.index, y.weight, y.taps, new Float32Array(15), 0), /out is too small/);
  const bad = resampleAxis(20, 4);
  assert.throws(() => native.resampleCrop(src, 10, 1, 0, 0, 10, 10, bad.index, bad.weight, bad.taps, y.index, y.weight, y.taps, new Float32Array(16), 0), /index outside the crop/);
  assert.throws(() => native.resampleCrop(src, 10, 1, 0, 0, 10, 10, new Float32Array(x.index) as unknown as Int32Array, x.weight, x.taps, y.index, y.weight, y.taps, new Float32Array(16), 0), /wrong type/);
  assert.throws(() => native.gaussianBlur(new Float32Array(99), 0, 1, 10, 10, gaussianWeights(3, 1)), /too small/);
});
