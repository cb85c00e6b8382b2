// The fused training step and the gradient-cache step on WebGPU (lavapipe in CI) against the CPU provider: same
// parameters, same batch, each with its own provider's gradient forms: losses, every gradient, BatchNorm statistic
// and the logits, at three steps along the CPU's LARS trajectory.
// Tolerances: TOL_GRAD and TOL_LOSS (webgpu.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcessGroup, freePort } from '../../trainer/collectives/index.js';
import { Engine, ParameterStore } from '../../trainer/engine/index.js';
import { initParameters, type ModelConfig } from '../../trainer/models/index.js';
import { createOptimizer } from '../../trainer/optim/index.js';
import { GradientCacheStep } from '../../trainer/train/gradient-cache.js';
import { TrainStep, applyUpdate, type StepBatch, type StepResult } from '../../trainer/train/step.js';
import { DEVICE, TOL_GRAD, TOL_LOSS, deviceOrSkip, maxNormErr, syntheticBatch, worstOf } from './webgpu.js';

const SIZE = 12;
const B = 8;
const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', widthMultiplier: 0.0625, inputChannels: 1, headLatentSize: 32, nceSize: 16, numClasses: 4 };
const opts = { model, batchSize: B, height: SIZE, width: SIZE, temperature: 0.5 };

const { engine: gpu, skip } = await deviceOrSkip();
const cpu = await Engine.create({ provider: 'cpu', threads: 2 });

const batch = (seed: number): StepBatch => syntheticBatch(seed, B, SIZE, 4);

interface Stepper {
  specs: TrainStep['specs'];
  run(b: StepBatch, store: ParameterStore): Promise<StepResult>;
}

/**
 * Three LARS steps along the CPU's trajectory: at each, both providers run from the same parameters and batch, and
 * the CPU's result is applied. (Two float32 trajectories cannot be compared after a few steps: at lr 0.5 a 1e-5
 * relative change of one initial weight moves some parameters by 0.28 of their scale after 3 steps on the CPU alone.)
 */
async function alongCpuTrajectory(onGpu: Stepper, onCpu: Stepper): Promise<Array<[StepResult, StepResult]>> {
  const init = initParameters(onCpu.specs, 7);
  const store = new ParameterStore();
  for (const s of onCpu.specs) store.set(s.name, s.shape, Float32Array.from(init.get(s.name)!));
  const optimizer = createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-4 });
  const pairs: Array<[StepResult, StepResult]> = [];
  for (let i = 0; i < 3; i++) {
    const b = batch(3 + i);
    const pair: [StepResult, StepResult] = [await onGpu.run(b, store), await onCpu.run(b, store)];
    pairs.push(pair);
    applyUpdate(pair[1], onCpu.specs, store, optimizer, { lr: 0.5, clip: 0 });
  }
  return pairs;
}

/** The worst differences of one step's outputs: losses (relative), gradients, BN statistics, logits (maxNormErr). */
export function stepErrors(g: StepResult, c: StepResult): { loss: number; grads: { name: string; err: number }; stats: { name: string; err: number }; logits: number } {
  const stats = (r: StepResult): Map<string, Float32Array> => new Map([...r.bnStats].flatMap(([n, s]) => [[`${n}.mean`, s.mean], [`${n}.var`, s.variance]]));
  return {
    loss: Math.max(...(['loss', 'nce', 'ce'] as const).map((k) => Math.abs(g[k] - c[k]) / Math.abs(c[k]))),
    grads: worstOf(g.grads, c.grads),
    stats: worstOf(stats(g), stats(c)),
    logits: maxNormErr(g.logits, c.logits),
  };
}

function assertClose(pairs: Array<[StepResult, StepResult]>, diagnostic: (m: string) => void): void {
  for (const [i, [g, c]] of pairs.entries()) {
    const e = stepErrors(g, c);
    diagnostic(`step ${i + 1}: loss WebGPU ${g.loss} / CPU ${c.loss} (relative ${e.loss.toExponential(2)}); worst gradient ${e.grads.err.toExponential(2)} (${e.grads.name}), BN statistic ${e.stats.err.toExponential(2)} (${e.stats.name}), logits ${e.logits.toExponential(2)}`);
    assert.ok(e.loss <= TOL_LOSS, `step ${i + 1}: losses WebGPU ${g.loss} ${g.nce} ${g.ce}, CPU ${c.loss} ${c.nce} ${c.ce}`);
    assert.ok(e.grads.err <= TOL_GRAD, `step ${i + 1}: gradient ${e.grads.name}: ${e.grads.err}`);
    assert.ok(e.stats.err <= TOL_GRAD, `step ${i + 1}: BatchNorm statistic ${e.stats.name}: ${e.stats.err}`);
    assert.ok(e.logits <= TOL_GRAD, `step ${i + 1}: logits: ${e.logits}`);
  }
}

test('the fused step on WebGPU equals the CPU provider\'s, 3 steps along the CPU\'s LARS trajectory', { skip, timeout: 300_000 }, async (t) => {
  const [onGpu, onCpu] = [await TrainStep.compile(gpu!, opts), await TrainStep.compile(cpu, opts)];
  try {
    assert.equal(gpu!.provider, DEVICE);
    assertClose(await alongCpuTrajectory(onGpu, onCpu), (m) => t.diagnostic(m));
  } finally {
    await Promise.all([onGpu.release(), onCpu.release()]);
  }
});

test('the gradient-cache step (chunks of 4) on WebGPU equals the CPU provider\'s', { skip, timeout: 300_000 }, async (t) => {
  const group = await ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort(), rendezvousTimeoutMs: 5000, collectiveTimeoutMs: 5000 });
  const gcOpts = { ...opts, chunk: 4, worldSize: 1 };
  const [onGpu, onCpu] = [await GradientCacheStep.compile(gpu!, gcOpts), await GradientCacheStep.compile(cpu, gcOpts)];
  try {
    const viaGroup = (s: GradientCacheStep): Stepper => ({ specs: s.specs, run: (b, store) => s.run(b, store, group) });
    assertClose(await alongCpuTrajectory(viaGroup(onGpu), viaGroup(onCpu)), (m) => t.diagnostic(m));
  } finally {
    await Promise.all([onGpu.release(), onCpu.release(), group.destroy()]);
  }
});
