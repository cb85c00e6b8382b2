import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { createSyntheticDataset, Rng } from '../data/index.js';
import { ProcessGroup } from '../collectives/index.js';
import { Engine, ParameterStore, moveToHost } from '../engine/index.js';
import { Graph, gradients } from '../graph/index.js';
import { blockPositives, ntXentLoss } from '../loss/index.js';
import { initParameters, type ModelConfig } from '../models/index.js';
import { createOptimizer } from '../optim/index.js';
import { GradientCacheStep, blockLossGradients, buildLossBlockGraph, chunkBlocks, lossBlockImages } from './gradient-cache.js';
import { TrainStep, applyUpdate, type StepResult } from './step.js';

const SIZE = 12;
const B = 8;
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
before(async () => {
  engine = await Engine.create({ provider: 'cpu', threads: 2 });
});

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

test('block losses summed over every block give NT-Xent of the global batch and its exact gradient', async () => {
  const blocks = 4;
  const half = 3; // images per view in a block
  const m = blocks * 2 * half;
  const d = 5;
  const temperature = 0.3;
  const rng = Rng.fromSeed(11);
  const z = Float32Array.from({ length: m * d }, () => rng.uniform(-1, 1));

  const ref = new Graph('ntxent_ref');
  const zIn = ref.input('z', [m, d]);
  const loss = ntXentLoss(zIn, temperature, blockPositives(blocks, half));
  ref.output('loss', loss);
  ref.output('dz', gradients(loss, [zIn])[0]);
  const refProgram = await engine.compile(ref);
  const want = await refProgram.run({ z });
  await refProgram.release();

  // Blocks of 3 images (whole chunks) and of 1 image (a chunk split in three): both must add up to the whole.
  for (const images of [half, 1]) {
    const block = await engine.compile(buildLossBlockGraph(m, d, 2 * images, temperature));
    // Two "ranks" of two chunks each.
    const rank0 = await blockLossGradients(block, z, d, [0, 6].flatMap((first) => chunkBlocks(first, half, images)));
    const rank1 = await blockLossGradients(block, z, d, [12, 18].flatMap((first) => chunkBlocks(first, half, images)));
    await block.release();
    const got = Float32Array.from({ length: m * d }, (_v, j) => (rank0[j] + rank1[j]) / m);
    const gotLoss = (rank0[m * d] + rank1[m * d]) / m;
    assert.ok(Math.abs(gotLoss - want.loss[0]) <= 1e-5 * want.loss[0], `loss ${gotLoss} vs ${want.loss[0]}`);
    assert.ok(maxRelDiff(got, want.dz) <= 1e-5, `dz differs by ${maxRelDiff(got, want.dz)} (relative to max |dz|)`);
    // Every row gets gradient from other blocks' anchors too (it is their negative), not only from its own block.
    assert.ok(rank1.subarray(0, 6 * d).some((v) => v !== 0), 'rank 1 anchors contribute to rank 0 rows');
  }
});

test('loss blocks shrink so one similarity tensor stays within 2^21 elements at any batch', () => {
  assert.equal(lossBlockImages(256, 512), 256); // batch 256: one block per chunk
  assert.equal(lossBlockImages(256, 8192), 128); // batch 4096: 256 x 8192 similarities
  assert.equal(lossBlockImages(96, 2 ** 20), 1);
  assert.equal(lossBlockImages(12, 2 ** 18), 4); // the largest divisor that fits
});

function batch(): { view1: Float32Array; view2: Float32Array; labels: Int32Array } {
  const ds = createSyntheticDataset({ split: 'train', length: B, seed: 3, numClasses: 4, size: SIZE, channels: 1 });
  const rng = Rng.fromSeed(5);
  const view1 = new Float32Array(B * SIZE * SIZE);
  const view2 = new Float32Array(B * SIZE * SIZE);
  const labels = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    const sample = ds.getSync(i);
    labels[i] = sample.label;
    for (let p = 0; p < SIZE * SIZE; p++) {
      const v = sample.image[p] / 255 - 0.5;
      view1[i * SIZE * SIZE + p] = v + rng.uniform(-0.1, 0.1);
      view2[i * SIZE * SIZE + p] = v + rng.uniform(-0.1, 0.1);
    }
  }
  return { view1, view2, labels };
}

test('with one rank and one chunk the gradient-cache step equals the fused step, over 4 LARS updates', async () => {
  const opts = { model, batchSize: B, height: SIZE, width: SIZE, temperature: 0.5 };
  const plain = await TrainStep.compile(engine, opts);
  const cached = await GradientCacheStep.compile(engine, { ...opts, chunk: B, worldSize: 1 });
  const group = await ProcessGroup.init({
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: 29300,
    rendezvousTimeoutMs: 1000,
    collectiveTimeoutMs: 1000,
  });
  const init = initParameters(plain.specs, 7);
  const stores = [new ParameterStore(), new ParameterStore()];
  for (const store of stores) for (const s of plain.specs) store.set(s.name, s.shape, Float32Array.from(init.get(s.name)!));
  const optimizers = [0, 1].map(() => createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-4 }));
  const b = batch();
  let first: [StepResult, StepResult] | undefined;
  try {
    for (let i = 0; i < 4; i++) {
      const r0 = await plain.run(b, stores[0]);
      const r1 = await cached.run(b, stores[1], group);
      first ??= [r0, r1];
      applyUpdate(r0, plain.specs, stores[0], optimizers[0], { lr: 0.5, clip: 0 });
      applyUpdate(r1, cached.specs, stores[1], optimizers[1], { lr: 0.5, clip: 0 });
    }
  } finally {
    await Promise.all([plain.release(), cached.release(), group.destroy()]);
  }
  const [r0, r1] = first!;
  assert.ok(Math.abs(r0.nce - r1.nce) <= 1e-5 * r0.nce, `nce ${r0.nce} vs ${r1.nce}`);
  assert.ok(Math.abs(r0.ce - r1.ce) <= 1e-5 * r0.ce, `ce ${r0.ce} vs ${r1.ce}`);
  for (const [name, g] of r0.grads) {
    assert.ok(maxRelDiff(r1.grads.get(name)!, g) <= 1e-4, `grad ${name}: ${maxRelDiff(r1.grads.get(name)!, g)}`);
  }
  let worst = 0;
  for (const s of plain.specs) {
    const a = stores[0].require(s.name).data;
    const c = stores[1].require(s.name).data;
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - c[j]));
  }
  assert.ok(worst <= 1e-5, `parameters and buffers differ by ${worst} after 4 steps`);
  // The updates moved the weights: equality above is not two untouched copies of the init.
  assert.notDeepEqual(stores[1].require('conv1.weight').data, init.get('conv1.weight'));
});

// Summing the chunks' gradients in ORT's memory (each chunk's program adds its gradient to the sum it is fed) against
// the host sum: the same additions in float32, in the same chunk order, so the sums agree to rounding (1e-5 of each
// tensor's scale; a chunk dropped or counted twice would be off by a whole chunk's share, ~1/4 here).
test('accumulated on the device, 4 chunks give the host sum: gradients stay in ORT, statistics and losses agree', async () => {
  const opts = { model, batchSize: B, height: SIZE, width: SIZE, temperature: 0.5, chunk: 2, worldSize: 1 };
  const onHost = await GradientCacheStep.compile(engine, opts);
  const onDevice = await GradientCacheStep.compile(engine, { ...opts, accumulateOnDevice: true });
  const group = await ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 29301, rendezvousTimeoutMs: 1000, collectiveTimeoutMs: 1000 });
  const store = new ParameterStore();
  const init = initParameters(onHost.specs, 9);
  for (const s of onHost.specs) store.set(s.name, s.shape, init.get(s.name));
  try {
    const b = batch();
    const want = await onHost.run(b, store, group);
    const got = await onDevice.runOnDevice(b, store, group);
    assert.ok(Math.abs(got.nce - want.nce) <= 1e-6 * want.nce && Math.abs(got.ce - want.ce) <= 1e-6 * want.ce, 'losses');
    const grads = new ParameterStore();
    for (const name of want.grads.keys()) {
      const t = got.outputs[`grad/${name}`]!;
      assert.ok(!ArrayBuffer.isView(t), `grad/${name} stayed in ORT's memory`);
      grads.setDevice(name, t as Exclude<typeof t, ArrayBufferView>);
    }
    await moveToHost(engine, grads);
    for (const [name, g] of want.grads) {
      const err = maxRelDiff(grads.require(name).data, g);
      assert.ok(err <= 1e-5, `grad ${name}: ${err}`);
    }
    for (const [name, st] of want.bnStats) assert.deepEqual(got.outputs[`bnstat/${name}.mean`], st.mean, `${name} mean`);
  } finally {
    await Promise.all([onHost.release(), onDevice.release(), group.destroy()]);
  }
});
