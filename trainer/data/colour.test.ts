import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, meanGrey, toGrayscale } from './colour.js';
import { Rng } from './rng.js';

/** n random RGB pixels as a CHW image [3, n] in [0, 1], quantised to 1/255 like decoded images. */
function randomPixels(n: number, seed: number): Float32Array {
  const rng = Rng.fromSeed(seed);
  return Float32Array.from({ length: 3 * n }, () => rng.int(256) / 255);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('identity factors leave pixels unchanged (brightness 1, contrast 1, saturation 1, hue 0)', () => {
  const img = randomPixels(500, 1);
  const copy = img.slice();
  adjustBrightness(img, 0, 3, 500, 1);
  adjustContrast(img, 0, 3, 500, 1);
  adjustSaturation(img, 0, 3, 500, 1);
  adjustHue(img, 0, 3, 500, 0);
  assert.ok(maxAbsDiff(img, copy) < 1e-6);
});

test('grayscale has equal channels equal to the ITU-R 601 luma; saturation 0 gives the same image', () => {
  const n = 300;
  const img = randomPixels(n, 2);
  const sat = img.slice();
  toGrayscale(img, 0, 3, n);
  adjustSaturation(sat, 0, 3, n, 0);
  for (let i = 0; i < n; i++) {
    assert.equal(img[i], img[n + i]);
    assert.equal(img[i], img[2 * n + i]);
  }
  assert.ok(maxAbsDiff(img, sat) < 1e-6);
  const one = Float32Array.of(1, 0, 0); // pure red: luma 0.299
  toGrayscale(one, 0, 3, 1);
  assert.ok(Math.abs(one[0] - 0.299) < 1e-6);
});

test('colour ops do nothing to 1-channel images, and everything stays in [0, 1]', () => {
  const grey = Float32Array.from({ length: 64 }, (_v, i) => i / 63);
  const copy = grey.slice();
  adjustSaturation(grey, 0, 1, 64, 0.1);
  adjustHue(grey, 0, 1, 64, 0.3);
  toGrayscale(grey, 0, 1, 64);
  assert.deepEqual(grey, copy);
  const img = randomPixels(1000, 3);
  adjustBrightness(img, 0, 3, 1000, 1.8);
  adjustContrast(img, 0, 3, 1000, 1.8);
  adjustSaturation(img, 0, 3, 1000, 1.8);
  adjustHue(img, 0, 3, 1000, 0.37);
  for (const v of img) assert.ok(v >= 0 && v <= 1);
});

test('contrast: the mean grey level is a fixed point; factor 0 gives a flat image at that level', () => {
  const n = 400;
  const img = randomPixels(n, 4);
  const m = meanGrey(img, 0, 3, n);
  adjustContrast(img, 0, 3, n, 0);
  for (const v of img) assert.ok(Math.abs(v - m) < 1e-6);
});

test('hue: a third of a turn maps red to green to blue; shifting back restores the image', () => {
  const rgb = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1); // CHW [3, 3]: red, green, blue pixels
  adjustHue(rgb, 0, 3, 3, 1 / 3);
  // pixel 0 was red -> green; pixel 1 green -> blue; pixel 2 blue -> red
  assert.ok(maxAbsDiff(rgb, [0, 0, 1, 1, 0, 0, 0, 1, 0]) < 1e-6, String([...rgb]));
  const img = randomPixels(500, 5);
  const copy = img.slice();
  adjustHue(img, 0, 3, 500, 0.2);
  adjustHue(img, 0, 3, 500, -0.2);
  assert.ok(maxAbsDiff(img, copy) < 1e-5);
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

test('hue, saturation, contrast agree with an independent Python reference (colorsys HSV, numpy blends)', { skip: hasNumpy ? false : 'python3 numpy not installed' }, () => {
  const n = 2000;
  const img = randomPixels(n, 6);
  const script = `
import sys, json, colorsys
import numpy as np
d = json.load(sys.stdin); x = np.array(d['img'], dtype=np.float64).reshape(3, -1)
def hue(x, s):
    out = np.empty_like(x)
    for i in range(x.shape[1]):
        h, sat, v = colorsys.rgb_to_hsv(*x[:, i])
        out[:, i] = colorsys.hsv_to_rgb((h + s) % 1.0, sat, v)
    return out
luma = lambda x: 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
sat = np.clip(1.6 * x + (1 - 1.6) * luma(x)[None, :], 0, 1)
con = np.clip(0.4 * x + (1 - 0.4) * luma(x).mean(), 0, 1)
print(json.dumps({'hue': hue(x, -0.15).ravel().tolist(), 'sat': sat.ravel().tolist(), 'con': con.ravel().tolist()}))
`;
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify({ img: [...img] }), encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const ref = JSON.parse(run.stdout) as { hue: number[]; sat: number[]; con: number[] };
  const hue = img.slice();
  adjustHue(hue, 0, 3, n, -0.15);
  const sat = img.slice();
  adjustSaturation(sat, 0, 3, n, 1.6);
  const con = img.slice();
  adjustContrast(con, 0, 3, n, 0.4);
  assert.ok(maxAbsDiff(hue, ref.hue) < 1e-5, `hue max diff ${maxAbsDiff(hue, ref.hue)}`);
  assert.ok(maxAbsDiff(sat, ref.sat) < 1e-5, `saturation max diff ${maxAbsDiff(sat, ref.sat)}`);
  assert.ok(maxAbsDiff(con, ref.con) < 1e-5, `contrast max diff ${maxAbsDiff(con, ref.con)}`);
});
