// What --polyak-ema costs a training step: the fused step + update of make run's recipe with and without the average,
// alternating in rounds (a noisy machine weighs on both alike), medians over rounds x steps.
//   host:   the CPU provider's path (TrainStep.run + the JS update over host arrays), + PolyakAverage.update (one JS
//           pass over every weight and BatchNorm statistic).
//   device: a GPU provider's path (TrainStep.runOnDevice + DeviceUpdate, state in the provider's memory), + a host copy
//           of the weights and statistics every step (copyToHost; the state stays on the device) and the average on
//           the host. It prints the bytes that cross per step, which is what the copy costs on a real bus.
// Usage: node dist/bench/polyak-ema.js [--provider cpu|webgpu] [--path host|device] [--width 0.5] [--batch 128]
//   [--size 16] [--threads 2] [--steps 4] [--rounds 3] [--decay 0.999]
import { parseArgs } from 'node:util';
import { Engine, ParameterStore, copyToHost, parseProvider } from '../trainer/engine/index.js';
import { ortAddon } from '../trainer/native/index.js';
import { initParameters, resolveStem, type ModelConfig } from '../trainer/models/index.js';
import { createOptimizer } from '../trainer/optim/index.js';
import { DeviceUpdate } from '../trainer/train/device-update.js';
import { PolyakAverage } from '../trainer/train/polyak-ema.js';
import { BN_MOMENTUM, TrainStep, applyUpdate } from '../trainer/train/step.js';

const { values } = parseArgs({
  options: {
    provider: { type: 'string', default: 'cpu' },
    path: { type: 'string', default: 'host' },
    width: { type: 'string', default: '0.5' },
    batch: { type: 'string', default: '128' },
    size: { type: 'string', default: '16' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    decay: { type: 'string', default: '0.999' },
  },
});
const provider = parseProvider(values.provider);
const [b, size, steps, rounds] = [Number(values.batch), Number(values.size), Number(values.steps), Number(values.rounds)];
const model: ModelConfig = {
  arch: 'resnet18', stem: resolveStem('auto', size), widthMultiplier: Number(values.width), inputChannels: 1,
  headLatentSize: 256, nceSize: 64, numClasses: 10,
};
const engine = await Engine.create({ provider, threads: Number(values.threads), spinning: false });
const step = await TrainStep.compile(engine, { model, batchSize: b, height: size, width: size, temperature: 0.2 });
const n = b * size * size;
const batch = {
  view1: Float32Array.from({ length: n }, () => Math.random()),
  view2: Float32Array.from({ length: n }, () => Math.random()),
  labels: Int32Array.from({ length: b }, (_v, i) => i % model.numClasses),
};
const newStore = (): ParameterStore => {
  const store = new ParameterStore();
  const init = initParameters(step.specs, 1);
  for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
  return store;
};
const optimizer = () => createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-6 });

interface Timed { step(): Promise<{ ms: number; averageMs: number; bytes: number }> }

async function hostPath(withAverage: boolean): Promise<Timed> {
  const store = newStore();
  const opt = optimizer();
  const average = withAverage ? new PolyakAverage(Number(values.decay), step.specs, store) : undefined;
  return {
    async step() {
      const before = ortAddon().traffic();
      const t0 = performance.now();
      applyUpdate(await step.run(batch, store), step.specs, store, opt, { lr: 1e-3, clip: 0 });
      const t1 = performance.now();
      average?.update((name) => store.require(name).data);
      const t2 = performance.now();
      const after = ortAddon().traffic();
      return { ms: t2 - t0, averageMs: t2 - t1, bytes: after.toProvider - before.toProvider + after.toHost - before.toHost };
    },
  };
}

async function devicePath(withAverage: boolean): Promise<Timed> {
  const store = newStore();
  const update = await DeviceUpdate.compile(engine, step.specs, step.statCounts, optimizer(), { clip: 0, bnMomentum: BN_MOMENTUM });
  const average = withAverage ? new PolyakAverage(Number(values.decay), step.specs, store) : undefined;
  return {
    async step() {
      const before = ortAddon().traffic();
      const t0 = performance.now();
      await update.toDevice(store);
      const r = await step.runOnDevice(batch, store);
      await update.run(store, r.outputs, 1e-3);
      const t1 = performance.now();
      if (average !== undefined) {
        const live = await copyToHost(engine, store, average.names()); // as the loop does with --polyak-ema
        average.update((name) => live.get(name)!);
      }
      const t2 = performance.now();
      const after = ortAddon().traffic();
      return { ms: t2 - t0, averageMs: t2 - t1, bytes: after.toProvider - before.toProvider + after.toHost - before.toHost };
    },
  };
}

const build = values.path === 'device' ? devicePath : hostPath;
const paths = { plain: await build(false), average: await build(true) };
const samples: Record<keyof typeof paths, Array<{ ms: number; averageMs: number; bytes: number }>> = { plain: [], average: [] };
for (const p of Object.values(paths)) await p.step(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, p] of Object.entries(paths) as Array<[keyof typeof paths, Timed]>) {
    for (let i = 0; i < steps; i++) samples[name].push(await p.step());
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const params = step.specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
const plain = median(samples.plain.map((s) => s.ms));
const averaged = median(samples.average.map((s) => s.ms));
console.log(`${values.provider} ${values.path} path, ResNet-18 width ${values.width}, batch ${b} at ${size} px, ${params} weights + BN statistics`);
console.log(`step + update: ${plain.toFixed(1)} ms; with --polyak-ema: ${averaged.toFixed(1)} ms (${(averaged / plain).toFixed(3)}x)`);
console.log(`  the average's own part: ${median(samples.average.map((s) => s.averageMs)).toFixed(1)} ms; bytes across per step: ` +
  `${median(samples.plain.map((s) => s.bytes))} without, ${median(samples.average.map((s) => s.bytes))} with`);
