import assert from 'node:assert/strict';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import { gradients } from '../autodiff.js';
import { Graph } from '../graph.js';
import * as op from '../ops.js';
import { COLLECTIVES_DOMAIN, usesCollectives } from './collectives.js';

const { onnx } = onnxProto;

test('synchronized BatchNorm writes its sums as AllReduceSum nodes chained in graph order, forward and backward', () => {
  const g = new Graph('sync_bn');
  const x = g.input('x', [4, 3, 2, 2]);
  const [gamma1, beta1, gamma2, beta2] = ['g1', 'b1', 'g2', 'b2'].map((n) => g.param(n, [3])) as [typeof x, typeof x, typeof x, typeof x];
  const a = op.batchNormTrain(x, gamma1, beta1, 1e-5, 2).y;
  // The shortcut's BatchNorm of a block: independent of the main path's, and of the same size.
  const b = op.batchNormTrain(x, gamma2, beta2, 1e-5, 2).y;
  assert.ok(usesCollectives(g.nodes), 'a BatchNormTrain over 2 replicas sums across them');
  const y = op.add(a, b);
  g.output('y', y);
  g.output('dx', gradients(op.reduceSum(op.mul(y, y)), [x])[0]!);
  const model = onnx.ModelProto.decode(g.toOnnx());
  assert.deepEqual(model.opsetImport!.map((o) => o.domain).sort(), ['', COLLECTIVES_DOMAIN]);
  const sums = model.graph!.node!.filter((n) => n.opType === 'AllReduceSum');
  // Per BatchNorm: forward, the sum and the sum of squared deviations; backward, sum(dy) with sum(dy * xc).
  assert.equal(sums.length, 6);
  for (const n of sums) assert.equal(n.domain, COLLECTIVES_DOMAIN);
  sums.forEach((n, i) => {
    // Each after the one written before it: ORT cannot reorder them, so every replica pairs the same sums.
    assert.deepEqual(n.input!.slice(1), i === 0 ? [] : [sums[i - 1]!.output![0]], `sum ${i}'s ordering input`);
  });
});

test('graphs without cross-replica sums stay plain ONNX', () => {
  const g = new Graph('plain');
  const x = g.input('x', [4, 3]);
  g.output('y', op.batchNormTrain(x, g.param('g', [3]), g.param('b', [3])).y);
  assert.equal(usesCollectives(g.nodes), false);
  assert.deepEqual(onnx.ModelProto.decode(g.toOnnx()).opsetImport!.map((o) => o.domain), ['']);
});
