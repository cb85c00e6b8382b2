import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../ops.js';
import { Graph } from '../graph.js';
import { gradients } from '../autodiff.js';
import { distinct, gradCheck } from '../testing/gradcheck.js';
import { TEST_TARGET, compileForTest } from '../testing/ort.js';
import { movesInt64 } from '../target.js';

test('MaxPool 2x2 stride 2, distinct values', async () => {
  await gradCheck([{ shape: [2, 2, 4, 4], data: distinct(64, 1) }], (x) => op.maxPool2d(x, { kernel: 2 }));
});

test('MaxPool 3x3 stride 2 pad 1 (overlapping windows accumulate)', async () => {
  await gradCheck([{ shape: [2, 2, 5, 5], data: distinct(100, 2) }], (x) => op.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }), { maxPoints: 100 });
});

test('MaxPool at a tie: the first maximum in row-major window order gets all the gradient (WebGPU: ties share it)', async () => {
  const g = new Graph('pooltie', TEST_TARGET);
  const x = g.input('x', [1, 1, 2, 4]);
  const [dx] = gradients(op.reduceSum(op.maxPool2d(x, { kernel: 2 })), [x]);
  g.output('dx', dx!);
  // window 1: [[1,5],[5,0]] -> first 5 (row 0, col 1); window 2: [[7,7],[7,7]] -> row 0, col 2
  const r = await (await compileForTest(g)).run({ x: Float32Array.from([1, 5, 7, 7, 5, 0, 7, 7]) });
  // Without int64 indices the pool is a ReduceMax over the window's views, whose ties split the gradient.
  const want = movesInt64(TEST_TARGET) ? [0, 1, 1, 0, 0, 0, 0, 0] : [0, 0.5, 0.25, 0.25, 0.5, 0, 0.25, 0.25];
  assert.deepEqual(Array.from(r['dx']!), want);
});
