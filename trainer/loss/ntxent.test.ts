// NT-Xent and cross entropy on tiny inputs against float64 values computed here with plain loops (no graph), and the
// graph's gradient of NT-Xent against central differences of that float64 reference.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Engine } from '../engine/index.js';
import { Graph, gradients } from '../graph/index.js';
import { blockPositives, ntXent, ntXentLoss, oneHot, softmaxCrossEntropy, topKCorrect } from './index.js';

/** Reference NT-Xent in float64: z is 2N rows of D, rows i and i+N are positives; self excluded from the softmax. */
function refNtXent(z: number[][], t: number): number {
  const m = z.length;
  const zn = z.map((r) => {
    const n = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / n);
  });
  const dot = (a: number[], b: number[]): number => a.reduce((s, v, k) => s + v * b[k], 0);
  let total = 0;
  for (let i = 0; i < m; i++) {
    const logits: number[] = [];
    for (let j = 0; j < m; j++) if (j !== i) logits.push(dot(zn[i], zn[j]) / t);
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((s, v) => s + Math.exp(v - mx), 0));
    total += lse - dot(zn[i], zn[(i + m / 2) % m]) / t;
  }
  return total / m;
}

const Z1 = [
  [0.5, -1.2, 0.3, 2.0],
  [1.5, 0.2, -0.7, 0.1],
  [-0.3, 0.8, 1.1, -0.4],
];
const Z2 = [
  [0.6, -1.0, 0.1, 1.7],
  [-1.1, 0.4, 0.9, 0.3],
  [0.2, 1.3, -0.5, -0.9],
];

let engine: Engine;
before(async () => {
  engine = await Engine.create({ provider: 'cpu', threads: 1 });
});

interface LossRun {
  loss: number;
  dz1: Float32Array;
  dz2: Float32Array;
}

async function runLoss(z1: number[][], z2: number[][], t: number): Promise<LossRun> {
  const n = z1.length;
  const d = z1[0].length;
  const g = new Graph('ntxent_test');
  const a = g.input('z1', [n, d]);
  const b = g.input('z2', [n, d]);
  const loss = ntXent(a, b, t);
  const [da, db] = gradients(loss, [a, b]);
  g.output('loss', loss);
  g.output('dz1', da);
  g.output('dz2', db);
  const p = await engine.compile(g);
  const out = await p.run({ z1: Float32Array.from(z1.flat()), z2: Float32Array.from(z2.flat()) });
  await p.release();
  return { loss: out.loss[0], dz1: out.dz1, dz2: out.dz2 };
}

describe('NT-Xent', () => {
  it('a hand-checkable case: two orthogonal pairs', async () => {
    // z1 = [e1, e2], z2 = [e1, e2] (N = 2, T = 1): anchor 0 sees candidates {e2: 0, e1: 1, e2: 0} (self excluded),
    // so each anchor's loss is log(e^0 + e^1 + e^0) - 1 = log(2 + e) - 1.
    const { loss } = await runLoss([[1, 0], [0, 1]], [[1, 0], [0, 1]], 1);
    assert.ok(Math.abs(loss - (Math.log(2 + Math.E) - 1)) < 1e-6, `loss ${loss}`);
  });

  for (const t of [0.5, 0.1]) {
    it(`matches the float64 reference on 2 x 3 x 4 embeddings (T = ${t})`, async () => {
      const { loss } = await runLoss(Z1, Z2, t);
      const want = refNtXent([...Z1, ...Z2], t);
      assert.ok(Math.abs(loss - want) <= 1e-5 * Math.max(1, Math.abs(want)), `loss ${loss}, want ${want}`);
    });
  }

  it('its gradient matches central differences of the reference', async () => {
    const t = 0.2;
    const { dz1, dz2 } = await runLoss(Z1, Z2, t);
    const got = [...dz1, ...dz2];
    const z = [...Z1, ...Z2].map((r) => [...r]);
    const h = 1e-6;
    let maxAbs = 0;
    let maxErr = 0;
    for (let i = 0; i < z.length; i++) {
      for (let k = 0; k < z[0].length; k++) {
        const keep = z[i][k];
        z[i][k] = keep + h;
        const up = refNtXent(z, t);
        z[i][k] = keep - h;
        const down = refNtXent(z, t);
        z[i][k] = keep;
        const fd = (up - down) / (2 * h);
        maxAbs = Math.max(maxAbs, Math.abs(fd));
        maxErr = Math.max(maxErr, Math.abs(fd - got[i * z[0].length + k]));
      }
    }
    assert.ok(maxAbs > 1e-2, 'gradient should not vanish');
    assert.ok(maxErr <= 1e-5 * maxAbs, `max |graph - finite difference| ${maxErr} vs max |grad| ${maxAbs}`);
  });

  it('takes an explicit pairing for gathered [rank view1; rank view2] blocks', async () => {
    // Two replicas with b = 2 rows per view: gathered order A1 A2 B1 B2 (A1 = replica 0 view 1, ...).
    const v1 = [Z1[0], Z1[1], Z1[2], Z2[0]];
    const v2 = [Z2[1], Z2[2], [0.3, 0.3, -1, 0.2], [1, 0, 0, 0.5]];
    const gathered = [v1[0], v1[1], v2[0], v2[1], v1[2], v1[3], v2[2], v2[3]];
    const g = new Graph('pairing');
    const z = g.input('z', [8, 4]);
    g.output('loss', ntXentLoss(z, 0.3, blockPositives(2, 2)));
    const p = await engine.compile(g);
    const out = await p.run({ z: Float32Array.from(gathered.flat()) });
    await p.release();
    const want = refNtXent([...v1, ...v2], 0.3); // the canonical order gives the same loss
    assert.ok(Math.abs(out.loss[0] - want) <= 1e-5 * want, `loss ${out.loss[0]}, want ${want}`);
    assert.deepEqual(Array.from(blockPositives(2, 2)), [2, 3, 0, 1, 6, 7, 4, 5]);
    assert.throws(() => ntXentLoss(g.input('w', [4, 2]), 0.1, [1, 0, 3, 3]), /row 2 -> 3/);
  });

  it('rejects an odd number of rows and mismatched views', () => {
    const g = new Graph('bad');
    assert.throws(() => ntXentLoss(g.input('z', [3, 4]), 0.1), /\[2N, D\]/);
    assert.throws(() => ntXent(g.input('a', [2, 4]), g.input('b', [3, 4]), 0.1), /views must both be/);
    assert.throws(() => ntXentLoss(g.input('c', [2, 4]), 0), /temperature/);
  });
});

describe('softmax cross entropy', () => {
  it('matches a float64 reference and one-hot/top-k helpers', async () => {
    const logits = [
      [2.0, -1.0, 0.5],
      [0.1, 0.2, 3.0],
    ];
    const labels = [0, 1];
    // row 0: log(e^2 + e^-1 + e^0.5) - 2; row 1: log(e^0.1 + e^0.2 + e^3) - 0.2; mean of both
    const lse = (r: number[]): number => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const want = (lse(logits[0]) - 2.0 + (lse(logits[1]) - 0.2)) / 2;
    const g = new Graph('ce_test');
    const x = g.input('logits', [2, 3]);
    const y = g.input('targets', [2, 3]);
    g.output('loss', softmaxCrossEntropy(x, y));
    const p = await engine.compile(g);
    const out = await p.run({ logits: Float32Array.from(logits.flat()), targets: oneHot(labels, 3) });
    await p.release();
    assert.ok(Math.abs(out.loss[0] - want) < 1e-6, `ce ${out.loss[0]}, want ${want}`);
    assert.deepEqual(Array.from(oneHot([2, 0], 3)), [0, 0, 1, 1, 0, 0]);
    assert.throws(() => oneHot([3], 3), /label 3 at 0/);
    const flat = Float32Array.from(logits.flat());
    assert.equal(topKCorrect(flat, labels, 3, 1), 1); // row 0 right, row 1 predicts class 2
    assert.equal(topKCorrect(flat, labels, 3, 2), 2);
  });
});
