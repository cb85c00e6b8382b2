import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSyntheticDataset } from '../data/index.js';
import { Engine, ParameterStore } from '../engine/index.js';
import { topKCorrect } from '../loss/index.js';
import { initParameters, type ModelConfig } from '../models/index.js';
import { createOptimizer } from '../optim/index.js';
import { DeviceUpdate } from './device-update.js';
import { BN_MOMENTUM, TrainStep, applyUpdate } from './step.js';

const SIZE = 12;
const B = 16;
const model: ModelConfig = {
  arch: 'resnet18',
  stem: 'cifar',
  widthMultiplier: 0.0625,
  inputChannels: 1,
  headLatentSize: 32,
  nceSize: 16,
  numClasses: 4,
};

let engine: Engine;
let step: TrainStep;
before(async () => {
  engine = await Engine.create({ provider: 'cpu', threads: 2 });
  step = await TrainStep.compile(engine, { model, batchSize: B, height: SIZE, width: SIZE, temperature: 0.5 });
});
after(async () => {
  await step.release();
});

/** A fixed batch of two "views": the same synthetic images with independent pixel noise. */
function batch(): { view1: Float32Array; view2: Float32Array; labels: Int32Array } {
  const ds = createSyntheticDataset({ split: 'train', length: B, seed: 3, numClasses: 4, size: SIZE, channels: 1 });
  const view1 = new Float32Array(B * SIZE * SIZE);
  const view2 = new Float32Array(B * SIZE * SIZE);
  const labels = new Int32Array(B);
  let s = 12345;
  const noise = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2;
  for (let i = 0; i < B; i++) {
    const sample = ds.getSync(i);
    labels[i] = sample.label;
    for (let p = 0; p < SIZE * SIZE; p++) {
      const v = sample.image[p] / 255 - 0.5;
      view1[i * SIZE * SIZE + p] = v + noise();
      view2[i * SIZE * SIZE + p] = v + noise();
    }
  }
  return { view1, view2, labels };
}

test('train step: outputs every gradient and BN statistic; repeated updates lower both losses', async () => {
  const store = new ParameterStore();
  const init = initParameters(step.specs, 7);
  for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
  const optimizer = createOptimizer({ optimizer: 'adam', momentum: 0.9, weightDecay: 0 });
  const b = batch();
  const first = await step.run(b, store);
  assert.equal(first.grads.size, step.trainable.length);
  for (const [name, g] of first.grads) assert.ok(g.every(Number.isFinite), `gradient of ${name} is finite`);
  assert.equal(first.logits.length, 2 * B * model.numClasses);
  // The classifier's gradient comes only from the cross entropy on the detached h; the encoder's only from NT-Xent.
  assert.ok(first.grads.get('classifier.weight')!.some((v) => v !== 0));
  const runningBefore = Float32Array.from(store.require('bn1.running_mean').data);
  let r = first;
  for (let i = 0; i < 15; i++) {
    applyUpdate(r, step.specs, store, optimizer, { lr: 3e-3, clip: 5 });
    r = await step.run(b, store);
  }
  assert.ok(r.nce < first.nce - 0.05, `NT-Xent ${first.nce} -> ${r.nce} should drop`);
  assert.ok(r.ce < first.ce, `classifier loss ${first.ce} -> ${r.ce} should drop`);
  assert.notDeepEqual(store.require('bn1.running_mean').data, runningBefore, 'running stats were updated');
});

// The device path (gradients, statistics, weights and optimizer state in ORT's memory; DeviceUpdate) against the host
// path (every gradient to JS, the JS optimizer). Both compute in float32 but sum in other orders (JS's update keeps
// float64 intermediates), so after 5 steps they differ by ~1e-5 relative (LARS at lr 1 amplifies it: at lr 2 a ReLU flips by step 5); the updates themselves move the weights by
// far more (asserted), so a device path that skipped an update or fed stale weights fails.
test('train step on the device: the same losses, accuracy counts and weights as the host path over 5 steps', async () => {
  const b = batch();
  const make = (): ParameterStore => {
    const store = new ParameterStore();
    const init = initParameters(step.specs, 11);
    for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
    return store;
  };
  const hostStore = make();
  const deviceStore = make();
  const initial = Float32Array.from(hostStore.require('layer1.0.conv1.weight').data);
  const hostOpt = createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-4 });
  const deviceOpt = createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-4 });
  const update = await DeviceUpdate.compile(engine, step.specs, step.statCounts, deviceOpt, { clip: 1, bnMomentum: BN_MOMENTUM });
  await update.toDevice(deviceStore);
  for (let i = 0; i < 5; i++) {
    const lr = 1 - 0.15 * i;
    const h = await step.run(b, hostStore);
    const d = await step.runOnDevice(b, deviceStore);
    assert.ok(Math.abs(h.loss - d.loss) <= 1e-5 * Math.abs(h.loss), `step ${i}: loss ${d.loss} vs ${h.loss}`);
    assert.equal(d.correct1, topKCorrect(h.logits, b.labels, model.numClasses, 1), `step ${i}: top-1 hits`);
    assert.equal(d.correct5, topKCorrect(h.logits, b.labels, model.numClasses, 4), `step ${i}: top-4 hits`);
    assert.equal(d.outputs['grad/layer1.0.conv1.weight']!.constructor.name, 'NativeTensor', 'gradients stayed in ORT');
    const hostNorm = applyUpdate(h, step.specs, hostStore, hostOpt, { lr, clip: 1 });
    const deviceNorm = await update.run(deviceStore, d.outputs, lr);
    assert.ok(Math.abs(hostNorm - deviceNorm) <= 1e-4 * hostNorm, `step ${i}: grad norm ${deviceNorm} vs ${hostNorm}`);
  }
  await update.toHost(deviceStore);
  const moved = hostStore.require('layer1.0.conv1.weight').data.reduce((a, v, j) => Math.max(a, Math.abs(v - initial[j]!)), 0);
  for (const s of step.specs) {
    const want = hostStore.require(s.name).data;
    const got = deviceStore.require(s.name).data;
    const scale = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    const diff = want.reduce((a, v, j) => Math.max(a, Math.abs(v - got[j]!)), 0);
    assert.ok(diff <= 1e-4 * scale, `${s.name}: max diff ${diff} of ${scale}`);
  }
  const wScale = initial.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  assert.ok(moved > 1e-3 * wScale, `the updates moved layer1.0.conv1.weight by ${moved} of ${wScale}: >= 10x the tolerance`);
  assert.equal(deviceOpt.stepCount, 5);
  await update.release();
});
