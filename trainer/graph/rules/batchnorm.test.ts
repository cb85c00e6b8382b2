import { test } from 'node:test';
import * as op from '../ops.js';
import { gradCheck } from '../testing/gradcheck.js';
import { channelAffine } from './batchnorm.js';

// BN's output is invariant to shifts of x per channel, so dL/dx is a small difference of large terms: use a looser
// absolute tolerance than the default.
const tol = { atol: 3e-3, rtol: 2e-2 };

test('batchNormTrain [N,C,H,W]: closed-form dx, dgamma, dbeta', async () => {
  await gradCheck([{ shape: [3, 2, 3, 3] }, { shape: [2] }, { shape: [2] }], (x, g, b) => op.batchNormTrain(x, g, b).y, { ...tol, maxPoints: 54 });
});

test('batchNormTrain [N,C] (projection head)', async () => {
  await gradCheck([{ shape: [5, 3] }, { shape: [3] }, { shape: [3] }], (x, g, b) => op.batchNormTrain(x, g, b).y, tol);
});

test('batchNormTrain: gradients through the returned mean and variance too', async () => {
  await gradCheck([{ shape: [4, 3] }, { shape: [3] }, { shape: [3] }], (x, g, b) => {
    const r = op.batchNormTrain(x, g, b);
    return op.concat([op.reduceSum(r.y, [0]), op.mul(r.mean, 3), op.mul(r.variance, 2)], 0);
  }, tol);
});

test('channelAffine: x * scale + bias per channel, [N,C,H,W] and [N,C]', async () => {
  await gradCheck([{ shape: [3, 2, 2, 3] }, { shape: [2] }, { shape: [2] }], (x, s, b) => channelAffine(x, s, b));
  await gradCheck([{ shape: [4, 3] }, { shape: [3] }, { shape: [3] }], (x, s, b) => channelAffine(x, s, b));
});

test('batchNormEval: running statistics are constants', async () => {
  const pos = Float32Array.from([0.5, 1.5, 2]);
  await gradCheck(
    [{ shape: [4, 3, 2, 2] }, { shape: [3] }, { shape: [3] }, { shape: [3], noGrad: true }, { shape: [3], data: pos, noGrad: true }],
    (x, g, b, rm, rv) => op.batchNormEval(x, g, b, rm, rv),
  );
});
