import { test } from 'node:test';
import * as op from '../ops.js';
import { gradCheck } from '../testing/gradcheck.js';

test('Softmax over the last and a middle axis', async () => {
  await gradCheck([{ shape: [3, 5] }], (x) => op.softmax(x, -1));
  await gradCheck([{ shape: [2, 4, 3] }], (x) => op.softmax(x, 1));
});

test('LogSoftmax over the last and a middle axis', async () => {
  await gradCheck([{ shape: [3, 5] }], (x) => op.logSoftmax(x, 1));
  await gradCheck([{ shape: [2, 4, 3] }], (x) => op.logSoftmax(x, 1));
});
