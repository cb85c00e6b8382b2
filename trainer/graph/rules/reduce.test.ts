import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../ops.js';
import { Graph } from '../graph.js';
import { gradients } from '../autodiff.js';
import { distinct, gradCheck } from '../testing/gradcheck.js';
import { compileForTest } from '../testing/ort.js';

test('ReduceSum and ReduceMean over some, all, negative axes, with and without keepdims', async () => {
  const x = { shape: [2, 3, 4] };
  await gradCheck([x], (v) => op.reduceSum(v, [1]));
  await gradCheck([x], (v) => op.reduceSum(v, [0, 2], true));
  await gradCheck([x], (v) => op.reduceSum(v));
  await gradCheck([x], (v) => op.reduceMean(v, [-1]));
  await gradCheck([x], (v) => op.reduceMean(v, [0, 1], true));
  await gradCheck([{ shape: [2, 3, 4, 5] }], (v) => op.globalAvgPool(v));
});

test('ReduceMax away from ties matches finite differences', async () => {
  await gradCheck([{ shape: [3, 4, 2], data: distinct(24, 3) }], (v) => op.reduceMax(v, [1]));
  await gradCheck([{ shape: [3, 4], data: distinct(12, 4) }], (v) => op.reduceMax(v, [0, 1], true));
});

test('ReduceMax at a two-way tie: the gradient is split equally, which is also what the central difference gives', async () => {
  await gradCheck([{ shape: [2, 4], data: Float32Array.from([1, 3, 3, 0, 2, -1, 0.5, 2]) }], (v) => op.reduceMax(v, [1]));
});

test('ReduceMax convention at an n-way tie: each tied element gets 1/n', async () => {
  const data = Float32Array.from([1, 3, 3, 0, /* row 2 */ 2, 2, 2, -1]);
  const g = new Graph('ties');
  const x = g.input('x', [2, 4]);
  const [dx] = gradients(op.reduceSum(op.reduceMax(x, [1])), [x]);
  g.output('dx', dx!);
  const r = await (await compileForTest(g)).run({ x: data });
  const third = 1 / 3;
  assert.deepEqual(Array.from(r['dx']!).map((v) => +v.toFixed(6)), [0, 0.5, 0.5, 0, third, third, third, 0].map((v) => +v.toFixed(6)));
});

test('topK gives the k largest along the last axis, largest first, equal values lower index first; it has no gradient', async () => {
  const g = new Graph('topk');
  const x = g.input('x', [2, 5]);
  const { values, indices } = op.topK(x, 3);
  g.output('values', values);
  g.output('indices', indices);
  const r = await (await compileForTest(g)).run({ x: Float32Array.from([0.5, -1, 2, 0.5, 3, /* row 2 */ 1, 1, 1, 0, 1]) });
  assert.deepEqual(Array.from(r['values']!), [3, 2, 0.5, 1, 1, 1]);
  assert.deepEqual(Array.from(r['indices']! as unknown as BigInt64Array, Number), [4, 2, 0, 0, 1, 2]);
  assert.throws(() => op.topK(x, 6), /topK: k must be an integer in \[1, 5\], got 6/);
  assert.throws(() => gradients(op.reduceSum(op.topK(x, 2).values), [x]), /TopK/);
});
