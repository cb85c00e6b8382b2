import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from './ops.js';
import { Graph } from './graph.js';
import { gradients } from './autodiff.js';
import { gradCheck } from './testing/gradcheck.js';
import { compileForTest, randn } from './testing/ort.js';

test('a value used several times accumulates every contribution', async () => {
  await gradCheck([{ shape: [3, 3] }], (x) => op.add(op.mul(x, x), op.matmul(x, op.exp(x))));
});

test('composite conv-bn-relu-maxpool-globalpool-linear: every parameter and the input', async () => {
  await gradCheck(
    [{ shape: [2, 2, 6, 6] }, { shape: [3, 2, 3, 3] }, { shape: [3] }, { shape: [3] }, { shape: [4, 3] }, { shape: [4] }],
    (x, w, gamma, beta, fc, bias) => {
      const h = op.batchNormTrain(op.conv2d(x, w, { padding: 1 }), gamma, beta).y;
      const p = op.maxPool2d(op.relu(h), { kernel: 2 });
      return op.linear(op.globalAvgPool(p), fc, bias);
    },
    { atol: 3e-3, rtol: 2e-2, maxPoints: 24 },
  );
});

test('an NT-Xent-like loss: L2 normalisation, scaled similarity, masked logSoftmax', async () => {
  await gradCheck([{ shape: [4, 3] }], (z) => {
    const n = op.div(z, op.sqrt(op.reduceSum(op.mul(z, z), [1], true)));
    const sim = op.div(op.matmul(n, op.transpose(n, [1, 0])), 0.5);
    const mask = z.graph.constant(Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? -1e4 : 0)), [4, 4]);
    // zero the masked entries afterwards: their value (~-1e4) would carry float32 rounding of ~1e-3 into the FD
    const keep = z.graph.constant(Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 0 : 1)), [4, 4]);
    return op.mul(op.logSoftmax(op.add(sim, mask), 1), keep);
  });
});

test('seeded gradients: dL/dz fed from outside (gradient cache)', async () => {
  const g = new Graph('seeded');
  const x = g.input('x', [2, 3]);
  const w = g.param('w', [4, 3]);
  const z = op.linear(x, w);
  const dz = g.input('dz', z.shape);
  const [dw] = gradients({ seeds: [[z, dz]] }, [w]);
  g.output('dw', dw!);
  const xs = randn(6, 1);
  const dzs = randn(8, 2);
  const r = await (await compileForTest(g)).run({ x: xs, w: randn(12, 3), dz: dzs });
  for (let o = 0; o < 4; o++) {
    for (let i = 0; i < 3; i++) {
      const expect = dzs[o]! * xs[i]! + dzs[4 + o]! * xs[3 + i]!;
      assert.ok(Math.abs(r['dw']![o * 3 + i]! - expect) < 1e-6);
    }
  }
});

test('a wrt the loss does not depend on gets zeros; a missing rule is a clear error', async () => {
  const g = new Graph('zeros');
  const x = g.input('x', [2]);
  const unused = g.param('unused', [3]);
  const [dx, du] = gradients(op.reduceSum(op.mul(x, 2)), [x, unused]);
  g.output('dx', dx!); g.output('du', du!);
  const r = await (await compileForTest(g)).run({ x: Float32Array.from([1, 2]), unused: new Float32Array(3) });
  assert.deepEqual(Array.from(r['du']!), [0, 0, 0]);
  const y = g.addNode('Erf', [x], {}, [{ shape: [2], dtype: 'float32' }])[0]!;
  assert.throws(() => gradients(op.reduceSum(y), [x]), /no gradient rule for Erf/);
});

test("nodes the backward pass builds carry the autodiff scope (ONNX names 'grad/...'); forward nodes none", () => {
  const g = new Graph('scoped');
  const x = g.param('x', [2, 3]);
  const y = op.reduceSum(op.exp(x));
  const forwardNodes = g.nodes.length;
  gradients(y, [x]);
  assert.ok(g.nodes.length > forwardNodes);
  assert.ok(g.nodes.slice(0, forwardNodes).every((n) => n.scope === undefined));
  assert.ok(g.nodes.slice(forwardNodes).every((n) => n.scope === 'grad'));
  const later = op.neg(y); // built after gradients(): unscoped again
  assert.equal(later.producer?.scope, undefined);
});
