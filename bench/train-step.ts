// Training-step benchmark: images/s of the fused SimCLR step (forward + backward on ORT, optimizer in JS) for a
// given model, batch and provider. Usage: npx tsx bench/train-step.ts [--width 0.125] [--batch 256] [--size 28]
//   [--channels 1] [--threads 2] [--provider cpu] [--steps 5]
import { parseArgs } from 'node:util';
import { Engine, ParameterStore } from '../trainer/engine/index.js';
import { initParameters, resolveStem, type ModelConfig } from '../trainer/models/index.js';
import { createOptimizer } from '../trainer/optim/index.js';
import { TrainStep, applyUpdate } from '../trainer/train/step.js';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '0.125' },
    batch: { type: 'string', default: '256' },
    size: { type: 'string', default: '28' },
    channels: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    provider: { type: 'string', default: 'cpu' },
    steps: { type: 'string', default: '5' },
    head: { type: 'string', default: '512' },
  },
});
const b = Number(values.batch);
const size = Number(values.size);
const threads = Number(values.threads);
const model: ModelConfig = {
  arch: 'resnet18',
  stem: resolveStem('auto', size),
  widthMultiplier: Number(values.width),
  inputChannels: Number(values.channels),
  headLatentSize: Number(values.head),
  nceSize: 128,
  numClasses: 10,
};
const engine = await Engine.create({ provider: values.provider as 'cpu', threads });
let t = performance.now();
const step = await TrainStep.compile(engine, { model, batchSize: b, height: size, width: size, temperature: 0.2 });
console.log(`compile ${((performance.now() - t) / 1000).toFixed(1)} s`);
const store = new ParameterStore();
const init = initParameters(step.specs, 1);
for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
const opt = createOptimizer({ optimizer: 'lars', momentum: 0.9, weightDecay: 1e-6 });
const n = b * model.inputChannels * size * size;
const view1 = Float32Array.from({ length: n }, () => Math.random());
const view2 = Float32Array.from({ length: n }, () => Math.random());
const labels = Int32Array.from({ length: b }, (_v, i) => i % 10);
const fwd: number[] = [];
const upd: number[] = [];
for (let i = 0; i < Number(values.steps) + 1; i++) {
  t = performance.now();
  const r = await step.run({ view1, view2, labels }, store);
  const t1 = performance.now();
  applyUpdate(r, step.specs, store, opt, { lr: 0.1, clip: 0 });
  const t2 = performance.now();
  if (i > 0) {
    fwd.push(t1 - t);
    upd.push(t2 - t1);
  }
  console.log(`step ${i}: loss ${r.loss.toFixed(4)} program ${(t1 - t).toFixed(0)} ms, update ${(t2 - t1).toFixed(0)} ms`);
}
const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
const total = mean(fwd) + mean(upd);
console.log(
  `resnet18 w=${values.width} ${size}px b=${b} ${values.provider} threads=${threads}: ` +
    `forward+backward ${mean(fwd).toFixed(0)} ms, optimizer+BN ${mean(upd).toFixed(0)} ms, ` +
    `${((b * 1000) / total).toFixed(0)} images/s`,
);
await step.release();
