import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../ops.js';
import { Graph } from '../graph.js';
import { gradients } from '../autodiff.js';
import { awayFromZero, gradCheck } from '../testing/gradcheck.js';
import { compileForTest, randn } from '../testing/ort.js';

const positive = (n: number, seed: number): Float32Array => randn(n, seed).map((v) => 0.5 + Math.abs(v));

test('Add/Sub/Mul/Div with broadcasting: gradients summed back to each operand shape', async () => {
  const a = { shape: [2, 3, 4] };
  const b = { shape: [3, 1] };
  await gradCheck([a, b], (x, y) => op.add(x, y));
  await gradCheck([a, b], (x, y) => op.sub(x, y));
  await gradCheck([a, b], (x, y) => op.mul(x, y));
  await gradCheck([a, { shape: [1, 4], data: positive(4, 3) }], (x, y) => op.div(x, y));
  await gradCheck([{ shape: [4] }, { shape: [2, 1, 4] }], (x, y) => op.div(x, op.add(op.mul(y, y), 1)));
});

test('a scalar number operand works on either side', async () => {
  await gradCheck([{ shape: [5] }], (x) => op.sub(2, op.mul(x, 3)));
  await gradCheck([{ shape: [5], data: positive(5, 4) }], (x) => op.div(1, x));
});

test('Neg, Exp, Log, Sqrt, Pow', async () => {
  await gradCheck([{ shape: [3, 4] }], (x) => op.neg(x));
  await gradCheck([{ shape: [3, 4] }], (x) => op.exp(x));
  await gradCheck([{ shape: [3, 4], data: positive(12, 5) }], (x) => op.log(x));
  await gradCheck([{ shape: [3, 4], data: positive(12, 6) }], (x) => op.sqrt(x));
  await gradCheck([{ shape: [3, 4] }], (x) => op.pow(x, 2));
  await gradCheck([{ shape: [3, 4] }], (x) => op.pow(x, 3));
  await gradCheck([{ shape: [3, 4], data: positive(12, 7) }], (x) => op.pow(x, -1.5));
});

test('Relu away from 0 matches finite differences', async () => {
  await gradCheck([{ shape: [4, 5], data: awayFromZero(randn(20, 8)) }], (x) => op.relu(x));
});

test('Relu at exactly 0: subgradient convention is 0', async () => {
  const g = new Graph('relu0');
  const x = g.input('x', [3]);
  const [dx] = gradients(op.reduceSum(op.relu(x)), [x]);
  g.output('dx', dx!);
  const r = await (await compileForTest(g)).run({ x: Float32Array.from([-1, 0, 1]) });
  assert.deepEqual(Array.from(r['dx']!), [0, 0, 1]);
});

test('Where: gradient goes to the chosen branch, broadcast operands reduced', async () => {
  await gradCheck([{ shape: [3, 4] }, { shape: [4] }], (a, b) => op.where(op.greater(a, 0), a, b));
  await gradCheck([{ shape: [3, 4] }], (a) => op.where(op.less(a, 0), 0, op.mul(a, a)));
});

test('stopGradient blocks the gradient but not the value', async () => {
  const { analytic } = await gradCheck([{ shape: [4] }], (x) => op.add(x, op.stopGradient(op.mul(x, 0))));
  assert.equal(analytic.length, 1);
  const g = new Graph('sg');
  const x = g.input('x', [2]);
  const [dx] = gradients(op.reduceSum(op.mul(x, op.stopGradient(x))), [x]);
  g.output('dx', dx!);
  const r = await (await compileForTest(g)).run({ x: Float32Array.from([3, 5]) });
  assert.deepEqual(Array.from(r['dx']!), [3, 5]); // d/dx (x * const(x)) = x, not 2x
});
