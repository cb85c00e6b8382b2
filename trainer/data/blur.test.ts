import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { gaussianBlurInPlace, gaussianWeights, simclrBlurKernelSize } from './blur.js';
import { Rng } from './rng.js';

test('kernel size is 10% of the side, made odd', () => {
  assert.equal(simclrBlurKernelSize(224), 23);
  assert.equal(simclrBlurKernelSize(32), 3);
  assert.equal(simclrBlurKernelSize(96), 9);
  assert.equal(simclrBlurKernelSize(16), 1);
});

test('weights are normalised, symmetric, and truncated at 4 sigma', () => {
  const w = gaussianWeights(23, 0.5);
  assert.equal(w.length, 5); // radius ceil(4 * 0.5) = 2
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.equal(w[0], w[4]);
  assert.equal(gaussianWeights(23, 2).length, 17);
  assert.equal(gaussianWeights(3, 2).length, 3);
});

test('a constant image stays constant; an impulse spreads as the separable Gaussian', () => {
  const flat = new Float32Array(2 * 20 * 20).fill(0.3);
  gaussianBlurInPlace(flat, 0, 2, 20, 20, 9, 1.5);
  for (const v of flat) assert.ok(Math.abs(v - 0.3) < 1e-6);
  const img = new Float32Array(21 * 21);
  img[10 * 21 + 10] = 1;
  gaussianBlurInPlace(img, 0, 1, 21, 21, 9, 1);
  const w = gaussianWeights(9, 1);
  for (let dy = -4; dy <= 4; dy++) {
    for (let dx = -4; dx <= 4; dx++) {
      const got = img[(10 + dy) * 21 + 10 + dx];
      assert.ok(Math.abs(got - w[dy + 4] * w[dx + 4]) < 1e-6, `at ${dy},${dx}`);
    }
  }
  assert.ok(Math.abs(img.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'mass is preserved away from edges');
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

test('matches torchvision\'s GaussianBlur formula (full kernel, reflect padding) computed in numpy', { skip: hasNumpy ? false : 'python3 numpy not installed' }, () => {
  const h = 40;
  const w = 56;
  const rng = Rng.fromSeed(3);
  const img = Float32Array.from({ length: 3 * h * w }, () => rng.float());
  // Full 23-tap kernel as torchvision builds it (linspace, exp, normalise), 2-D via the outer product.
  const script = `
import sys, json
import numpy as np
d = json.load(sys.stdin); x = np.array(d['img']).reshape(3, ${h}, ${w}); k, s = d['k'], d['sigma']
t = np.linspace(-(k - 1) / 2, (k - 1) / 2, k); g = np.exp(-0.5 * (t / s) ** 2); g /= g.sum()
r = k // 2; p = np.pad(x, ((0, 0), (r, r), (r, r)), mode='reflect'); k2 = np.outer(g, g)
out = np.zeros_like(x)
for i in range(k):
    for j in range(k):
        out += k2[i, j] * p[:, i:i + ${h}, j:j + ${w}]
print(json.dumps(out.ravel().tolist()))
`;
  for (const sigma of [0.1, 0.7, 2]) {
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify({ img: [...img], k: 23, sigma }), encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(run.status, 0, run.stderr);
    const ref = JSON.parse(run.stdout) as number[];
    const ours = img.slice();
    gaussianBlurInPlace(ours, 0, 3, h, w, 23, sigma);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref[i]));
    assert.ok(maxDiff < 2e-4, `sigma ${sigma}: max diff ${maxDiff}`);
  }
});

