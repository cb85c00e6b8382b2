import { test } from 'node:test';
import * as op from '../ops.js';
import { gradCheck } from '../testing/gradcheck.js';

test('MatMul 2-D', async () => {
  await gradCheck([{ shape: [3, 4] }, { shape: [4, 5] }], (a, b) => op.matmul(a, b));
});

test('MatMul batched with a broadcast operand: its gradient is summed over the batch', async () => {
  await gradCheck([{ shape: [2, 3, 4] }, { shape: [4, 2] }], (a, b) => op.matmul(a, b));
  await gradCheck([{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }], (a, b) => op.matmul(a, b));
});

test('linear (Gemm, w[O,I] transposed) with and without bias', async () => {
  await gradCheck([{ shape: [5, 4] }, { shape: [3, 4] }, { shape: [3] }], (x, w, b) => op.linear(x, w, b));
  await gradCheck([{ shape: [5, 4] }, { shape: [3, 4] }], (x, w) => op.linear(x, w));
});
