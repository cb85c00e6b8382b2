// Where the training state lives, per step: bytes moved between JS memory and the provider, and step time, for
//   js-binding:  the path before the native backend: onnxruntime-node's InferenceSession fed every weight from JS each
//                run, every gradient back to JS, the optimizer in JS (the same graph and JS update as host-update);
//   host-update: the native backend run the same way (TrainStep.run + applyUpdate: all state on the host);
//   device:      the native backend with the state in the provider's memory (TrainStep.runOnDevice + DeviceUpdate),
//                what the trainer runs: per step the batch goes in and scalars come out.
// Rounds alternate the paths so that a noisy machine weighs on all of them alike; medians over rounds x steps.
// Usage: node dist/bench/device-state.js [--provider cpu|webgpu] [--width 0.5] [--batch 128] [--size 16]
//   [--channels 1] [--threads 2] [--steps 4] [--rounds 3] [--optimizer adam] [--paths js-binding,host-update,device]
// Defaults: make run's recipe (ResNet-18 CIFAR stem, width 0.5, 16 px crops, batch 128, Adam).
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Engine, ParameterStore, parseProvider } from '../trainer/engine/index.js';
import { ortAddon } from '../trainer/native/index.js';
import { oneHot } from '../trainer/loss/index.js';
import { initParameters, resolveStem, type ModelConfig } from '../trainer/models/index.js';
import { createOptimizer, type OptimizerKind } from '../trainer/optim/index.js';
import { DeviceUpdate } from '../trainer/train/device-update.js';
import { BN_MOMENTUM, TrainStep, applyUpdate, buildTrainGraph, type StepResult } from '../trainer/train/step.js';

const { values } = parseArgs({
  options: {
    provider: { type: 'string', default: 'cpu' },
    width: { type: 'string', default: '0.5' },
    batch: { type: 'string', default: '128' },
    size: { type: 'string', default: '16' },
    channels: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    optimizer: { type: 'string', default: 'adam' },
    paths: { type: 'string', default: 'js-binding,host-update,device' },
  },
});
const provider = parseProvider(values.provider);
const b = Number(values.batch);
const size = Number(values.size);
const steps = Number(values.steps);
const model: ModelConfig = {
  arch: 'resnet18',
  stem: resolveStem('auto', size),
  widthMultiplier: Number(values.width),
  inputChannels: Number(values.channels),
  headLatentSize: 256,
  nceSize: 64,
  numClasses: 10,
};
const optimizerKind = values.optimizer as OptimizerKind;
const paths = values.paths.split(',');
const engine = await Engine.create({ provider, threads: Number(values.threads), spinning: false });
const stepOptions = { model, batchSize: b, height: size, width: size, temperature: 0.2 };
const step = await TrainStep.compile(engine, stepOptions);
const n = b * model.inputChannels * size * size;
const batch = {
  view1: Float32Array.from({ length: n }, () => Math.random()),
  view2: Float32Array.from({ length: n }, () => Math.random()),
  labels: Int32Array.from({ length: b }, (_v, i) => i % model.numClasses),
};
const batchBytes = 2 * n * 4 + b * model.numClasses * 4; // both views + the one-hot targets
const newStore = (): ParameterStore => {
  const store = new ParameterStore();
  const init = initParameters(step.specs, 1);
  for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
  return store;
};
const optimizer = () => createOptimizer({ optimizer: optimizerKind, momentum: 0.9, weightDecay: 1e-6 });

interface Path {
  step(): Promise<void>;
  /** Bytes between JS and the provider in the last step. */
  bytes(): { toProvider: number; toHost: number };
}

async function jsBindingPath(): Promise<Path> {
  const { graph } = buildTrainGraph(stepOptions, provider);
  const session = await ort.InferenceSession.create(graph.toOnnx(), {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: Number(values.threads),
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' }, ...(provider !== 'cpu' ? { disable_cpu_ep_fallback: '1' } : {}) } },
    logSeverityLevel: 3,
  });
  const store = newStore();
  const opt = optimizer();
  let last = { toProvider: 0, toHost: 0 };
  return {
    async step() {
      const feeds: Record<string, ort.Tensor> = {
        view1: new ort.Tensor('float32', batch.view1, [b, model.inputChannels, size, size]),
        view2: new ort.Tensor('float32', batch.view2, [b, model.inputChannels, size, size]),
        targets: new ort.Tensor('float32', oneHot(batch.labels, model.numClasses), [b, model.numClasses]),
      };
      for (const v of graph.params) feeds[v.name] = new ort.Tensor('float32', store.require(v.name).data, [...v.shape]);
      const out = await session.run(feeds);
      const f = (name: string): Float32Array => out[name]!.data as Float32Array;
      const grads = new Map(step.trainable.map((s) => [s.name, f(`grad/${s.name}`)]));
      const bnStats: StepResult['bnStats'] = new Map();
      for (const [name, count] of step.statCounts) bnStats.set(name, { mean: f(`bnstat/${name}.mean`), variance: f(`bnstat/${name}.var`), count });
      applyUpdate({ grads, bnStats }, step.specs, store, opt, { lr: 1e-3, clip: 0 });
      const bytesOf = (ts: Iterable<ort.Tensor>): number => [...ts].reduce((a, t) => a + (t.data as Float32Array).byteLength, 0);
      last = { toProvider: bytesOf(Object.values(feeds)), toHost: bytesOf(Object.values(out)) };
    },
    bytes: () => last,
  };
}

async function hostUpdatePath(): Promise<Path> {
  const store = newStore();
  const opt = optimizer();
  let last = { toProvider: 0, toHost: 0 };
  return {
    async step() {
      const before = ortAddon().traffic();
      applyUpdate(await step.run(batch, store), step.specs, store, opt, { lr: 1e-3, clip: 0 });
      const after = ortAddon().traffic();
      last = { toProvider: after.toProvider - before.toProvider, toHost: after.toHost - before.toHost };
    },
    bytes: () => last,
  };
}

async function devicePath(): Promise<Path> {
  const store = newStore();
  const update = await DeviceUpdate.compile(engine, step.specs, step.statCounts, optimizer(), { clip: 0, bnMomentum: BN_MOMENTUM });
  await update.toDevice(store);
  let last = { toProvider: 0, toHost: 0 };
  return {
    async step() {
      const before = ortAddon().traffic();
      const r = await step.runOnDevice(batch, store);
      await update.run(store, r.outputs, 1e-3);
      const after = ortAddon().traffic();
      last = { toProvider: after.toProvider - before.toProvider, toHost: after.toHost - before.toHost };
    },
    bytes: () => last,
  };
}

const builders: Record<string, () => Promise<Path>> = { 'js-binding': jsBindingPath, 'host-update': hostUpdatePath, device: devicePath };
for (const p of paths) if (!(p in builders)) throw new Error(`--paths: unknown path ${p} (js-binding, host-update, device)`);
const built: Record<string, Path> = {};
for (const p of paths) {
  built[p] = await builders[p]!();
  await built[p]!.step(); // warm-up: first-run allocations and (WebGPU) shader compilation
}
const times: Record<string, number[]> = Object.fromEntries(paths.map((p) => [p, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const p of paths) {
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      await built[p]!.step();
      times[p]!.push(performance.now() - t);
    }
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const params = step.trainable.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
console.log(
  `${provider}, ResNet-18 ${model.stem} width ${model.widthMultiplier}, batch ${b} at ${size} px, ${optimizerKind}: ` +
    `${params} parameters; the batch is ${batchBytes} bytes`,
);
const reference = median(times[paths[0]!]!);
for (const p of paths) {
  const m = median(times[p]!);
  const { toProvider, toHost } = built[p]!.bytes();
  console.log(
    `${p.padEnd(12)} step ${m.toFixed(1).padStart(7)} ms (${(reference / m).toFixed(2)}x ${paths[0]}'s speed)  ` +
      `to provider ${toProvider} B (batch + ${toProvider - batchBytes})  to host ${toHost} B`,
  );
}
