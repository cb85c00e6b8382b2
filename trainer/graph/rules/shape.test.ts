import { test } from 'node:test';
import * as op from '../ops.js';
import { gradCheck } from '../testing/gradcheck.js';

test('Reshape and Flatten', async () => {
  await gradCheck([{ shape: [2, 3, 4] }], (x) => op.reshape(x, [4, -1]));
  await gradCheck([{ shape: [2, 3, 2, 2] }], (x) => op.flatten(x));
});

test('Transpose', async () => {
  await gradCheck([{ shape: [2, 3, 4] }], (x) => op.transpose(x, [2, 0, 1]));
});

test('Concat: each input gets its slice of the gradient', async () => {
  await gradCheck([{ shape: [2, 3] }, { shape: [2, 1] }, { shape: [2, 2] }], (a, b, c) => op.concat([a, b, c], 1));
  await gradCheck([{ shape: [2, 3] }], (a) => op.concat([a, op.mul(a, 2)], 0));
});

test('Slice: unit steps (Pad back), strides (scatter back), negative and clamped bounds', async () => {
  await gradCheck([{ shape: [4, 5] }], (x) => op.slice(x, [1, 2], [3, 5], [0, 1]));
  await gradCheck([{ shape: [4, 7] }], (x) => op.slice(x, [0, 1], [4, 7], [0, 1], [2, 3]));
  await gradCheck([{ shape: [3, 6] }], (x) => op.slice(x, [-4], [100], [1]));
});

test('Pad', async () => {
  await gradCheck([{ shape: [2, 3] }], (x) => op.pad(x, [1, 0, 0, 2]));
});
