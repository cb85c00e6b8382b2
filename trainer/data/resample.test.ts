import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resampleAxis, resizeCropInto } from './resample.js';
import { Rng } from './rng.js';

test('filter rows sum to 1; a same-size axis is the identity; shrinking widens the filter', () => {
  for (const [n, m] of [[10, 10], [10, 23], [37, 8], [224, 224], [896, 224], [28, 16]]) {
    const a = resampleAxis(n, m);
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let t = 0; t < a.taps; t++) {
        sum += a.weight[i * a.taps + t];
        assert.ok(a.index[i * a.taps + t] >= 0 && a.index[i * a.taps + t] < n);
      }
      assert.ok(Math.abs(sum - 1) < 1e-12, `${n}->${m} row ${i} sums to ${sum}`);
    }
  }
  const same = resampleAxis(5, 5);
  for (let i = 0; i < 5; i++) assert.deepEqual([same.index[i * same.taps], same.weight[i * same.taps]], [i, 1]);
  assert.equal(resampleAxis(10, 20).taps, 3);
  assert.equal(resampleAxis(40, 10).taps, 9, 'a 4x shrink reads 4 pixels either side');
});

test('a shrunk stripe pattern averages out instead of aliasing', () => {
  // Vertical stripes, period 2 (0, 255, 0, ...), shrunk 4x: point sampling would return all 0 or all 255.
  const [h, w] = [8, 64];
  const img = Uint8Array.from({ length: h * w }, (_v, i) => ((i % w) % 2 === 0 ? 0 : 255));
  const out = new Float32Array(2 * 16);
  resizeCropInto(img, w, 1, { top: 0, left: 0, height: h, width: w }, false, 2, 16, out, 0);
  for (const v of out.subarray(2, 14)) assert.ok(Math.abs(v - 0.5) < 0.01, `got ${v}`);
});

test('flip mirrors the output columns exactly', () => {
  const rng = Rng.fromSeed(4);
  const img = Uint8Array.from({ length: 3 * 20 * 30 }, () => rng.int(256));
  const box = { top: 3, left: 4, height: 15, width: 21 };
  const a = new Float32Array(3 * 9 * 13);
  const b = new Float32Array(3 * 9 * 13);
  resizeCropInto(img, 30, 3, box, false, 9, 13, a, 0);
  resizeCropInto(img, 30, 3, box, true, 9, 13, b, 0);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 9; y++) {
      for (let x = 0; x < 13; x++) assert.equal(b[(c * 9 + y) * 13 + x], a[(c * 9 + y) * 13 + 12 - x]);
    }
  }
});

const hasPil = spawnSync('python3', ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;

test('matches PIL crop + resize(BILINEAR) (torchvision\'s resized_crop on PIL images)', { skip: hasPil ? false : 'python3 Pillow/numpy not installed (make python-deps)' }, () => {
  const rng = Rng.fromSeed(5);
  const [h, w] = [48, 64];
  const img = Uint8Array.from({ length: h * w }, () => rng.int(256));
  const cases: number[][] = []; // top, left, height, width, outH, outW
  for (let i = 0; i < 12; i++) {
    const bh = 4 + rng.int(h - 4);
    const bw = 4 + rng.int(w - 4);
    cases.push([rng.int(h - bh + 1), rng.int(w - bw + 1), bh, bw, 3 + rng.int(40), 3 + rng.int(40)]);
  }
  // Mode F keeps PIL in floating point, so the comparison is not blurred by its uint8 rounding.
  const script = `
import sys, json
import numpy as np
from PIL import Image
d = json.load(sys.stdin); im = Image.fromarray(np.array(d['img'], dtype=np.float32).reshape(${h}, ${w}), 'F')
out = []
for t, l, bh, bw, oh, ow in d['cases']:
    out.append(np.asarray(im.crop((l, t, l + bw, t + bh)).resize((ow, oh), Image.BILINEAR)).ravel().tolist())
print(json.dumps(out))
`;
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify({ img: [...img], cases }), encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const ref = JSON.parse(run.stdout) as number[][];
  cases.forEach(([top, left, bh, bw, oh, ow], k) => {
    const ours = new Float32Array(oh * ow);
    resizeCropInto(img, w, 1, { top, left, height: bh, width: bw }, false, oh, ow, ours, 0);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] * 255 - ref[k][i]));
    assert.ok(maxDiff < 1e-3, `${bh}x${bw} -> ${oh}x${ow}: max diff ${maxDiff} grey levels`);
  });
});
