import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSyntheticDataset } from '../data/index.js';
import { Engine, ParameterStore } from '../engine/index.js';
import { initParameters, type ModelConfig } from '../models/index.js';
import { createOptimizer } from '../optim/index.js';
import { TrainStep, applyUpdate } from './step.js';

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
