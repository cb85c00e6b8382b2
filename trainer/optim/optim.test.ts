// Optimizers, schedule and clipping against values worked out by hand (the arithmetic is written out per step).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Adam,
  Lars,
  LrSchedule,
  Sgd,
  clipGradNorm,
  createOptimizer,
  scaledLearningRate,
  type OptimParam,
  type Optimizer,
} from './index.js';

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-6, what = ''): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: got ${actual[i]}, want ${expected[i]}`);
  }
}

const param = (name: string, values: number[], isOneD: boolean): OptimParam => ({
  name,
  data: Float32Array.from(values),
  isOneD,
});
const grads = (o: Record<string, number[]>): Map<string, Float32Array> =>
  new Map(Object.entries(o).map(([k, v]) => [k, Float32Array.from(v)]));

describe('LARS', () => {
  // momentum 0.9, lr 2, weight decay 0.1, eta 0.001; W = [3, 4] (2-D weight), b = [1, -2] (1-D bias).
  const make = (nesterov = false): Lars =>
    new Lars({ momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001, nesterov });

  it('scales 2-D weights by the trust ratio after weight decay, and leaves 1-D parameters plain', () => {
    const opt = make();
    const W = param('W', [3, 4], false);
    const b = param('b', [1, -2], true);
    const g = grads({ W: [0.3, -0.4], b: [0.5, 0.25] });
    // step 1, W: g' = [0.3 + 0.1*3, -0.4 + 0.1*4] = [0.6, 0]; trust = 0.001 * 5 / 0.6; v = 2 * trust * g' = [0.01, 0]
    //         b: no decay, trust 1: v = 2 * [0.5, 0.25] = [1, 0.5]; b = [0, -2.5]
    opt.step([W, b], g, 2);
    close(W.data, [2.99, 4], 1e-6, 'W step 1');
    close(b.data, [0, -2.5], 1e-6, 'b step 1');
    // step 2, W: g' = [0.3 + 0.299, 0] = [0.599, 0]; ||W|| = sqrt(2.99^2 + 16); lr*trust*g'_x = 2 * 0.001 * ||W||
    //         v_x = 0.9 * 0.01 + 0.002 * sqrt(24.9401); W_x = 2.99 - v_x
    //         b: v = 0.9 * [1, 0.5] + 2 * [0.5, 0.25] = [1.9, 0.95]; b = [-1.9, -3.45]
    opt.step([W, b], g, 2);
    close(W.data, [2.99 - (0.009 + 0.002 * Math.sqrt(24.9401)), 4], 1e-6, 'W step 2');
    close(b.data, [-1.9, -3.45], 1e-6, 'b step 2');
    assert.equal(opt.stepCount, 2);
  });

  it('uses trust 1 for an all-zero weight, and supports nesterov', () => {
    const opt = make(true);
    const Z = param('Z', [0, 0], false);
    const W = param('W', [3, 4], false);
    opt.step([Z, W], grads({ Z: [1, -1], W: [0.3, -0.4] }), 2);
    // Z: ||Z|| = 0 -> trust 1; v = 2 * [1, -1]; nesterov update = 0.9 * v + 2 * g = [3.8, -3.8]
    close(Z.data, [-3.8, 3.8], 1e-6, 'Z');
    // W: v = [0.01, 0]; update = 0.9 * 0.01 + 0.01 = 0.019
    close(W.data, [2.981, 4], 1e-6, 'W');
  });
});

describe('SGD', () => {
  // lr 0.1, momentum 0.9, weight decay 0.01, w = [1, -1], g = [0.5, 0.5] both steps.
  it('momentum', () => {
    const opt = new Sgd({ momentum: 0.9, weightDecay: 0.01 });
    const w = param('w', [1, -1], false);
    const g = grads({ w: [0.5, 0.5] });
    opt.step([w], g, 0.1); // d = [0.51, 0.49] = b; w = [1 - 0.051, -1 - 0.049]
    close(w.data, [0.949, -1.049], 1e-6, 'step 1');
    opt.step([w], g, 0.1); // d = [0.50949, 0.48951]; b = [0.459 + 0.50949, 0.441 + 0.48951] = [0.96849, 0.93051]
    close(w.data, [0.949 - 0.096849, -1.049 - 0.093051], 1e-6, 'step 2');
  });

  it('nesterov', () => {
    const opt = new Sgd({ momentum: 0.9, weightDecay: 0.01, nesterov: true });
    const w = param('w', [1, -1], false);
    const g = grads({ w: [0.5, 0.5] });
    opt.step([w], g, 0.1); // b = [0.51, 0.49]; d = d + 0.9 b = [0.969, 0.931]
    close(w.data, [0.9031, -1.0931], 1e-6, 'step 1');
    // d = [0.509031, 0.489069]; b = [0.968031, 0.930069]; d + 0.9 b = [1.3802589, 1.3261311]
    opt.step([w], g, 0.1);
    close(w.data, [0.9031 - 0.13802589, -1.0931 - 0.13261311], 1e-6, 'step 2');
  });

  it('can exclude 1-D parameters from weight decay', () => {
    const opt = new Sgd({ momentum: 0, weightDecay: 0.5, excludeOneDFromWeightDecay: true });
    const b = param('b', [2], true);
    const w = param('w', [2], false);
    opt.step([b, w], grads({ b: [1], w: [1] }), 0.1);
    close(b.data, [1.9], 1e-6, 'b'); // 2 - 0.1 * 1
    close(w.data, [1.8], 1e-6, 'w'); // 2 - 0.1 * (1 + 0.5 * 2)
  });
});

describe('Adam / AdamW', () => {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, w = [1, -2]; g1 = [0.5, -0.1], g2 = [0.1, 0.3].
  it('Adam: two steps with bias correction', () => {
    const opt = new Adam('adam', { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const w = param('w', [1, -2], false);
    // step 1: m = [0.05, -0.01], v = [0.00025, 0.00001]; m^ = [0.5, -0.1], v^ = [0.25, 0.01] -> update = lr * sign
    opt.step([w], grads({ w: [0.5, -0.1] }), 0.1);
    close(w.data, [0.9, -1.9], 1e-6, 'step 1');
    // step 2: m = [0.055, 0.021], v = [0.00025975, 0.00009999]; bc1 = 0.19, bc2 = 0.001999
    opt.step([w], grads({ w: [0.1, 0.3] }), 0.1);
    const upd = (m: number, v: number): number => (0.1 * (m / 0.19)) / (Math.sqrt(v / 0.001999) + 1e-8);
    close(w.data, [0.9 - upd(0.055, 0.00025975), -1.9 - upd(0.021, 0.00009999)], 1e-6, 'step 2');
  });

  it('AdamW decays the weight directly; Adam puts weight decay into the gradient', () => {
    const w1 = param('w', [1, -2], false);
    new Adam('adamw', { weightDecay: 0.1 }).step([w1], grads({ w: [0.5, -0.1] }), 0.1);
    // w * (1 - 0.1 * 0.1) = [0.99, -1.98], then the step-1 Adam update lr * sign(g) = [0.1, -0.1]
    close(w1.data, [0.89, -1.88], 1e-6, 'adamw');
    const w2 = param('w', [1, -2], false);
    new Adam('adam', { weightDecay: 0.1 }).step([w2], grads({ w: [0.5, -0.1] }), 0.1);
    // g' = [0.5 + 0.1, -0.1 - 0.2] = [0.6, -0.3]: step 1 is lr * sign(g')
    close(w2.data, [0.9, -1.9], 1e-6, 'adam + L2');
  });
});

describe('optimizer state', () => {
  const run = (opt: Optimizer, w: OptimParam, g: number[], lr: number): void => opt.step([w], grads({ w: g }), lr);
  for (const kind of ['lars', 'sgd', 'adam', 'adamw'] as const) {
    it(`${kind}: a restored state continues bit-identically`, () => {
      const cfg = { optimizer: kind, momentum: 0.9, weightDecay: 1e-4 };
      const a = createOptimizer(cfg);
      const wa = param('w', [0.3, -0.7, 1.1], false);
      run(a, wa, [0.1, 0.2, -0.3], 0.5);
      const saved = a.stateDict();
      const wb = param('w', Array.from(wa.data), false);
      run(a, wa, [-0.4, 0.05, 0.6], 0.4);
      const b = createOptimizer(cfg);
      b.loadStateDict(saved);
      assert.equal(b.stepCount, 1);
      run(b, wb, [-0.4, 0.05, 0.6], 0.4);
      assert.deepEqual(Array.from(wb.data), Array.from(wa.data));
      // stateDict is a copy: later steps do not change a saved state.
      const before = Array.from(Object.values(saved.tensors)[0]);
      run(a, wa, [1, 1, 1], 0.1);
      assert.deepEqual(Array.from(Object.values(saved.tensors)[0]), before);
    });
  }

  it('rejects state of another kind, a missing gradient and a bad learning rate', () => {
    const lars = new Lars();
    assert.throws(() => lars.loadStateDict(new Sgd().stateDict()), /cannot load 'sgd' state into a 'lars'/);
    const w = param('w', [1], false);
    assert.throws(() => lars.step([w], grads({}), 0.1), /no gradient for parameter 'w'/);
    assert.throws(() => lars.step([w], grads({ w: [1, 2] }), 0.1), /2 elements, parameter has 1/);
    assert.throws(() => lars.step([w], grads({ w: [1] }), Number.NaN), /learning rate/);
  });
});

describe('learning-rate schedule', () => {
  it('linear and sqrt batch scaling', () => {
    assert.equal(scaledLearningRate(0.3, 4096, 'linear'), 4.8); // 0.3 * 4096 / 256
    assert.equal(scaledLearningRate(0.075, 4096, 'sqrt'), 4.8); // 0.075 * 64
    assert.equal(scaledLearningRate(0.3, 256, 'linear'), 0.3);
  });

  it('linear warmup then cosine, per step', () => {
    const s = new LrSchedule({ baseLr: 1, warmupSteps: 4, totalSteps: 10, decay: 'cosine' });
    close([s.at(0), s.at(1), s.at(3)], [0.25, 0.5, 1], 1e-12, 'warmup');
    // after warmup: 0.5 * (1 + cos(pi * (step - 4) / 6))
    close([s.at(4), s.at(7), s.at(9), s.at(10), s.at(50)], [1, 0.5, 0.5 * (1 - Math.sqrt(3) / 2), 0, 0], 1e-12, 'cos');
  });

  it('fixed after warmup; warmup epochs convert to steps', () => {
    const s = LrSchedule.fromEpochs({
      lr: 0.3,
      batchSize: 512,
      scaling: 'linear',
      decay: 'fixed',
      warmupEpochs: 0.5,
      epochs: 3,
      stepsPerEpoch: 10,
    });
    assert.equal(s.opts.warmupSteps, 5);
    assert.equal(s.opts.totalSteps, 30);
    close([s.at(0), s.at(4), s.at(5), s.at(29)], [0.12, 0.6, 0.6, 0.6], 1e-12, 'fixed');
    assert.throws(() => new LrSchedule({ baseLr: 1, warmupSteps: 11, totalSteps: 10, decay: 'cosine' }), /warmup/);
  });
});

describe('gradient clipping', () => {
  it('scales all gradients together when the global norm exceeds the limit', () => {
    const a = Float32Array.from([3, 4]);
    const b = Float32Array.from([12]);
    const norm = clipGradNorm([a, b], 6.5); // sqrt(9 + 16 + 144) = 13 -> coef 6.5 / 13
    assert.equal(norm, 13);
    close(a, [1.5, 2], 1e-6, 'a');
    close(b, [6], 1e-6, 'b');
    const c = Float32Array.from([3, 4]);
    assert.equal(clipGradNorm([c], 20), 5);
    assert.deepEqual(Array.from(c), [3, 4]);
    assert.throws(() => clipGradNorm([Float32Array.from([Number.NaN])], 1), /non-finite/);
  });
});
