// The state stays on WebGPU: weights, BatchNorm running statistics and optimizer slots live in GPU buffers across
// steps, each step feeds only the batch (+ the update's 12 bytes of scalars) and fetches only scalars, and one step +
// update there lands where the CPU provider's host update does. The traffic is counted by the native backend at the
// JS boundary (every host array fed, every output fetched), so a gradient or weight that crossed would show.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine, ParameterStore } from '../../trainer/engine/index.js';
import { ortAddon } from '../../trainer/native/index.js';
import { initParameters, type ModelConfig } from '../../trainer/models/index.js';
import { createOptimizer } from '../../trainer/optim/index.js';
import { DeviceUpdate } from '../../trainer/train/device-update.js';
import { BN_MOMENTUM, TrainStep, applyUpdate, type StepBatch } from '../../trainer/train/step.js';
import { TOL_GRAD, maxNormErr, syntheticBatch, deviceOrSkip } from './webgpu.js';

const SIZE = 12;
const B = 8;
const K = 4;
const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', widthMultiplier: 0.0625, inputChannels: 1, headLatentSize: 32, nceSize: 16, numClasses: K };
const opts = { model, batchSize: B, height: SIZE, width: SIZE, temperature: 0.5 };
const { engine: gpu, skip } = await deviceOrSkip();

const batch = (seed: number): StepBatch => syntheticBatch(seed, B, SIZE, 4);

test('on WebGPU a step + update moves the batch in and scalars out, and lands where the CPU host update does', { skip, timeout: 600_000 }, async () => {
  const cpu = await Engine.create({ provider: 'cpu', threads: 2 });
  const [onGpu, onCpu] = await Promise.all([TrainStep.compile(gpu!, opts), TrainStep.compile(cpu, opts)]);
  const init = initParameters(onCpu.specs, 5);
  const stores = [new ParameterStore(), new ParameterStore()] as const;
  for (const store of stores) for (const s of onCpu.specs) store.set(s.name, s.shape, Float32Array.from(init.get(s.name)!));
  const [gpuStore, cpuStore] = stores;
  const make = () => createOptimizer({ optimizer: 'sgd', momentum: 0.9, weightDecay: 1e-4 });
  const cpuOpt = make();
  const update = await DeviceUpdate.compile(gpu!, onGpu.specs, onGpu.statCounts, make(), { clip: 5, bnMomentum: BN_MOMENTUM });
  await update.toDevice(gpuStore);
  assert.equal(gpuStore.require('conv1.weight').device?.location, 'WebGPU_Buf', 'weights in a GPU buffer');
  assert.equal(gpuStore.require('optimizer/momentum/conv1.weight').device?.location, 'WebGPU_Buf', 'optimizer slots too');

  const b = batch(1);
  const batchBytes = b.view1.byteLength + b.view2.byteLength + B * K * 4; // the views and the one-hot targets
  const lr = 0.5;
  const stepOnGpu = async (label: string): Promise<void> => {
    const before = ortAddon().traffic();
    const r = await onGpu.runOnDevice(b, gpuStore);
    await update.run(gpuStore, r.outputs, lr);
    const after = ortAddon().traffic();
    const toProvider = after.toProvider - before.toProvider;
    const toHost = after.toHost - before.toHost;
    assert.ok(toProvider + toHost <= batchBytes + 4096, `${label}: ${toProvider} B in + ${toHost} B out, batch ${batchBytes} B`);
    assert.ok(toProvider >= batchBytes, `${label}: the batch itself was counted`);
  };
  await stepOnGpu('step 1');
  applyUpdate(await onCpu.run(b, cpuStore), onCpu.specs, cpuStore, cpuOpt, { lr, clip: 5 });
  // One step from a shared state (two float32 trajectories drift apart within a few steps: steps.test.ts).
  await update.toHost(gpuStore);
  let moved = 0;
  for (const s of onCpu.specs) {
    const err = maxNormErr(gpuStore.require(s.name).data, cpuStore.require(s.name).data);
    assert.ok(err <= TOL_GRAD, `${s.name}: ${err} of its scale after a step`);
    moved = Math.max(moved, maxNormErr(cpuStore.require(s.name).data, init.get(s.name)!));
  }
  assert.ok(moved > 100 * TOL_GRAD, `the update moved the weights (${moved} of their scale)`);
  // Back on the device (the optimizer's momentum with it): the next steps move no state either.
  await update.toDevice(gpuStore);
  await stepOnGpu('step 2');
  await stepOnGpu('step 3');
  await Promise.all([onGpu.release(), onCpu.release(), update.release()]);
});
