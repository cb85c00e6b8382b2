import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../data/index.js';
import { Engine } from '../../engine/index.js';
import type { Features } from './features.js';
import { DEFAULT_PROBE, SoftmaxObjective, linearProbe, minimiseLbfgs } from './probe.js';

const engine = Engine.create({ provider: 'cpu', threads: 1 });

test('L-BFGS finds the minimum of the Rosenbrock function from the textbook start', async () => {
  const rosenbrock = async (x: Float64Array): Promise<[number, Float64Array]> => {
    const [a, b] = [x[0], x[1]];
    return [(1 - a) ** 2 + 100 * (b - a * a) ** 2, Float64Array.of(-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a))];
  };
  const r = await minimiseLbfgs(rosenbrock, Float64Array.of(-1.2, 1), { maxIterations: 200, gradientTolerance: 1e-8, relativeTolerance: 0 });
  assert.ok(Math.abs(r.x[0] - 1) < 1e-5 && Math.abs(r.x[1] - 1) < 1e-5, `ended at ${Array.from(r.x)}`);
  assert.ok(r.iterations < 100, `${r.iterations} iterations`);
});

/** Mean CE + l2/2 |W|^2 of softmax(x W^T + b) and its gradient, in float64 from the definition. */
function referenceObjective(theta: Float64Array, x: Float32Array, labels: Int32Array, d: number, k: number, l2: number): [number, Float64Array] {
  const n = labels.length;
  const grad = new Float64Array(theta.length);
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const z = Array.from({ length: k }, (_v, c) => {
      let s = theta[k * d + c];
      for (let j = 0; j < d; j++) s += theta[c * d + j] * x[r * d + j];
      return s;
    });
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    loss -= (z[labels[r]] - lse) / n;
    for (let c = 0; c < k; c++) {
      const dz = (Math.exp(z[c] - lse) - (c === labels[r] ? 1 : 0)) / n;
      grad[k * d + c] += dz;
      for (let j = 0; j < d; j++) grad[c * d + j] += dz * x[r * d + j];
    }
  }
  for (let i = 0; i < k * d; i++) {
    loss += (l2 / 2) * theta[i] ** 2;
    grad[i] += l2 * theta[i];
  }
  return [loss, grad];
}

test('the softmax-regression objective run in ORT matches its float64 definition, value and gradient', async () => {
  const [n, d, k, l2] = [40, 6, 4, 0.03];
  const rng = Rng.fromSeed(3);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.uniform(0, k)));
  const theta = Float64Array.from({ length: k * (d + 1) }, () => rng.normal() * 0.5);
  const objective = await SoftmaxObjective.compile(await engine, x, labels, d, k);
  try {
    const [loss, grad] = await objective.evaluate(theta, l2);
    const [refLoss, refGrad] = referenceObjective(theta, x, labels, d, k, l2);
    assert.ok(Math.abs(loss - refLoss) < 1e-5 * refLoss, `loss ${loss} vs ${refLoss}`);
    for (let i = 0; i < grad.length; i++) assert.ok(Math.abs(grad[i] - refGrad[i]) < 1e-5, `grad[${i}] ${grad[i]} vs ${refGrad[i]}`);
  } finally {
    await objective.release();
  }
});

/** n rows in `d` dims: class c is a unit-variance Gaussian around mean[c] (the rest of the dims pure noise). */
function blobs(rng: Rng, n: number, means: number[][], d: number): Features {
  const h = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const c = r % means.length;
    labels[r] = c;
    for (let j = 0; j < d; j++) h[r * d + j] = (means[c][j] ?? 0) + rng.normal();
  }
  return { h, dim: d, labels, count: n };
}

test('the probe reaches the Bayes accuracy on Gaussian classes, and chance on noise', async () => {
  // Three unit-variance Gaussians 2.5 apart on a triangle in 2 of 8 dims: the Bayes classifier is linear; its
  // accuracy, by Monte Carlo over 200k draws with the true means, is the bar the fitted probe must come within 2 points of.
  const side = 2.5;
  const means = [[0, 0], [side, 0], [side / 2, (side * Math.sqrt(3)) / 2]];
  const rng = Rng.fromSeed(11);
  const mc = blobs(rng, 200_000, means, 2);
  let bayes = 0;
  for (let r = 0; r < mc.count; r++) {
    const dist = means.map((m) => (mc.h[r * 2] - m[0]) ** 2 + (mc.h[r * 2 + 1] - m[1]) ** 2);
    if (dist.indexOf(Math.min(...dist)) === mc.labels[r]) bayes++;
  }
  bayes /= mc.count;
  const train = blobs(rng, 3000, means, 8);
  const test = blobs(rng, 3000, means, 8);
  const o = { ...DEFAULT_PROBE, numClasses: 3, seed: 1 };
  const p = await linearProbe(await engine, train, test, o);
  assert.ok(p.top1 > bayes - 0.02 && p.top1 < bayes + 0.02, `probe ${p.top1}, Bayes ${bayes}`);
  assert.equal(p.top5, 1);
  assert.equal(p.heldOutTop1.length, o.l2Grid.length);
  assert.equal(p.l2, o.l2Grid[p.heldOutTop1.indexOf(Math.max(...p.heldOutTop1))]);

  const noise = (count: number): Features => blobs(rng, count, [[], [], []], 8);
  const chance = await linearProbe(await engine, noise(3000), noise(3000), o);
  assert.ok(Math.abs(chance.top1 - 1 / 3) < 0.04, `noise features scored ${chance.top1}`);
});

test('the final fit is the regularised optimum: its gradient vanishes', async () => {
  const rng = Rng.fromSeed(5);
  const means = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
  const f = blobs(rng, 600, means, 5);
  const objective = await SoftmaxObjective.compile(await engine, f.h, f.labels, 5, 4);
  try {
    const r = await minimiseLbfgs((t) => objective.evaluate(t, 1e-3), new Float64Array(4 * 6), { maxIterations: 300 });
    const [, grad] = referenceObjective(r.x, f.h, f.labels, 5, 4, 1e-3);
    assert.ok(Math.max(...grad.map(Math.abs)) < 1e-4, `largest gradient entry ${Math.max(...grad.map(Math.abs))}`);
  } finally {
    await objective.release();
  }
});
