// Training-step benchmark: images/s of the fused SimCLR step (forward + backward on ORT, then the update) for a
// given model, batch and provider, the ORT thread count, and the time split between forward, backward and optimizer:
// ORT's profiler times every node, and the autodiff names the nodes it builds 'grad/...' (trainer/graph GRAD_SCOPE),
// so kernel time splits into forward and backward; the update (optimizer + BN running stats) is timed directly.
// --update device (the default, what the trainer runs): state in the provider's memory, the update a compiled
// program (DeviceUpdate); --update host: every gradient to JS and the JS optimizer (the path before it).
// Usage: npx tsx bench/train-step.ts [--width 0.125] [--batch 256] [--size 28] [--channels 1] [--threads 2]
//   [--provider cpu] [--steps 5] [--optimizer lars|sgd|adam|adamw] [--head 512] [--nce 128] [--spinning off|on]
//   [--keep-profile] [--profile off] [--json] [--per-conv] [--update device|host] [--precision fp32|fp16]
// --precision fp16 times the mixed-precision step (a GPU provider, --update device) with its dynamic loss scale.
// --profile off runs without ORT's profiler (which costs ~10% of the step) and prints no time split; --json ends with
// one JSON line of the per-step times (bench/vs-pytorch.ts reads it). --per-conv adds, per Conv layer, its forward,
// dX and dW kernel time inside the step and their ratios (the per-op bar of bench/conv-grad.ts, measured in place:
// each gradient op reads what the step just wrote, not inputs cold from a dozen other programs).
// With ORT's idle-thread spinning off (the default here) the process's CPU time per step is meaningful: it is
// printed too, and is the number to compare between two builds on a machine whose other jobs make wall time noisy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, ParameterStore, parseProvider } from '../trainer/engine/index.js';
import { latestProfile, layerTimes, splitRuns, type RunSplit } from '../trainer/engine/profile.js';
import { GRAD_SCOPE } from '../trainer/graph/index.js';
import { initParameters, resolveStem, type ModelConfig } from '../trainer/models/index.js';
import { createOptimizer, type OptimizerKind } from '../trainer/optim/index.js';
import { DeviceUpdate } from '../trainer/train/device-update.js';
import { DynamicLossScale, applyScaled } from '../trainer/train/loss-scale.js';
import type { Precision } from '../trainer/train/step-graph.js';
import { BN_MOMENTUM, TrainStep, applyUpdate, buildTrainGraph } from '../trainer/train/step.js';
import { convLayers } from '../trainer/graph/rules/conv.js';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '0.125' },
    batch: { type: 'string', default: '256' },
    size: { type: 'string', default: '28' },
    channels: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    provider: { type: 'string', default: 'cpu' },
    steps: { type: 'string', default: '5' },
    optimizer: { type: 'string', default: 'lars' },
    head: { type: 'string', default: '512' },
    nce: { type: 'string', default: '128' },
    spinning: { type: 'string', default: 'off' },
    'keep-profile': { type: 'boolean', default: false },
    profile: { type: 'string', default: 'on' },
    json: { type: 'boolean', default: false },
    'per-conv': { type: 'boolean', default: false },
    update: { type: 'string', default: 'device' },
    precision: { type: 'string', default: 'fp32' },
  },
});
const b = Number(values.batch);
const size = Number(values.size);
const threads = Number(values.threads);
const optimizer = values.optimizer as OptimizerKind;
if (!['lars', 'sgd', 'adam', 'adamw'].includes(optimizer)) throw new Error(`--optimizer ${optimizer}: expected lars, sgd, adam or adamw`);
const model: ModelConfig = {
  arch: 'resnet18',
  stem: resolveStem('auto', size),
  widthMultiplier: Number(values.width),
  inputChannels: Number(values.channels),
  headLatentSize: Number(values.head),
  nceSize: Number(values.nce),
  numClasses: 10,
};
const profileDir = mkdtempSync(join(tmpdir(), 'train-step-profile-'));
if (values.spinning !== 'on' && values.spinning !== 'off') throw new Error(`--spinning ${values.spinning}: expected on or off`);
if (values.profile !== 'on' && values.profile !== 'off') throw new Error(`--profile ${values.profile}: expected on or off`);
const profiling = values.profile === 'on';
if (values.update !== 'device' && values.update !== 'host') throw new Error(`--update ${values.update}: expected device or host`);
if (values.precision !== 'fp32' && values.precision !== 'fp16') throw new Error(`--precision ${values.precision}: expected fp32 or fp16`);
const precision: Precision = values.precision;
if (precision === 'fp16' && values.update !== 'device') throw new Error('--precision fp16: the loss-scaled update runs on the device: use --update device');
const engine = await Engine.create({
  provider: parseProvider(values.provider),
  threads,
  spinning: values.spinning === 'on',
  ...(profiling ? { profilePrefix: join(profileDir, 'step') } : {}),
});
let t = performance.now();
const stepOptions = { model, batchSize: b, height: size, width: size, temperature: 0.2, precision };
const step = await TrainStep.compile(engine, stepOptions);
console.log(`compile ${((performance.now() - t) / 1000).toFixed(1)} s`);
const store = new ParameterStore();
const init = initParameters(step.specs, 1);
for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
const opt = createOptimizer({ optimizer, momentum: 0.9, weightDecay: 1e-6 });
const lossScaled = precision === 'fp16';
const update = values.update === 'device' ? await DeviceUpdate.compile(engine, step.specs, step.statCounts, opt, { clip: 0, bnMomentum: BN_MOMENTUM, lossScaled }) : undefined;
const scaler = lossScaled ? new DynamicLossScale() : undefined;
await update?.toDevice(store);
const lr = optimizer.startsWith('adam') ? 2e-3 : 0.1;
/** One step: the program's ms, the update's ms and the loss. */
async function oneStep(): Promise<[number, number, number]> {
  const t0 = performance.now();
  if (update !== undefined) {
    const r = await step.runOnDevice({ view1, view2, labels }, store, scaler?.scale);
    const t1 = performance.now();
    if (scaler === undefined) await update.run(store, r.outputs, lr);
    else if (!(await applyScaled(update, scaler, store, r.outputs, lr, 0)).applied) console.log(`fp16 overflow: step skipped, loss scale now ${scaler.scale}`);
    return [t1 - t0, performance.now() - t1, r.loss];
  }
  const r = await step.run({ view1, view2, labels }, store);
  const t1 = performance.now();
  applyUpdate(r, step.specs, store, opt, { lr, clip: 0 });
  return [t1 - t0, performance.now() - t1, r.loss];
}
const n = b * model.inputChannels * size * size;
const view1 = Float32Array.from({ length: n }, () => Math.random());
const view2 = Float32Array.from({ length: n }, () => Math.random());
const labels = Int32Array.from({ length: b }, (_v, i) => i % 10);
const program: number[] = [];
const upd: number[] = [];
const cpu: number[] = [];
const losses: number[] = [];
for (let i = 0; i < Number(values.steps) + 1; i++) {
  const cpu0 = process.cpuUsage();
  const [programMs, updateMs, loss] = await oneStep();
  const used = process.cpuUsage(cpu0);
  losses.push(loss);
  if (i > 0) {
    program.push(programMs);
    upd.push(updateMs);
    cpu.push((used.user + used.system) / 1e3);
  }
  console.log(`step ${i}${i === 0 ? ' (warm-up, not counted)' : ''}: loss ${loss.toFixed(4)} program ${programMs.toFixed(0)} ms, update ${updateMs.toFixed(0)} ms`);
}
await step.release(); // ORT writes the profile when the session goes
const profile = profiling ? latestProfile(join(profileDir, 'step')) : '';
await update?.release(); // after the step's profile was picked (the update's program writes one too)
const runs = profiling ? splitRuns(profile, GRAD_SCOPE).slice(1) : [];
const perConv = values['per-conv'] && profiling ? perConvLines(profile) : [];
if (values['keep-profile'] && profiling) console.log(`ORT profile kept in ${profileDir}`);
else rmSync(profileDir, { recursive: true, force: true });

const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
const optMs = mean(upd);
const stepMs = mean(program) + optMs;
const row = (what: string, ms: number): string => `  ${what.padEnd(44)} ${ms.toFixed(0).padStart(6)} ms ${((100 * ms) / stepMs).toFixed(0).padStart(3)}%`;
console.log(
  `resnet18 w=${values.width} ${size}px b=${b} ${values.provider}, ORT intra-op threads=${threads} (inter-op 1), ` +
    `${optimizer}, update on the ${values.update}: step ${stepMs.toFixed(0)} ms, ${((b * 1000) / stepMs).toFixed(0)} images/s; ` +
    `${mean(cpu).toFixed(0)} CPU-ms per step, ${((b * 1000) / mean(cpu)).toFixed(0)} images per CPU-s (spinning ${values.spinning})`,
);
if (profiling) {
  const split = (f: (r: RunSplit) => number): number => mean(runs.map(f));
  const [fwd, bwd, ortMade, runMs] = [split((r) => r.kernelMs.forward), split((r) => r.kernelMs.backward), split((r) => r.ortMadeMs), split((r) => r.runMs)];
  console.log(`time split per step (mean of ${runs.length} steps; ORT profiler kernel time per node scope):`);
  console.log(row('forward (encoder, head, NT-Xent, classifier)', fwd));
  console.log(row(`backward (autodiff nodes, '${GRAD_SCOPE}/...')`, bwd));
  console.log(row('ORT run overhead (run wall - kernels, I/O)', mean(program) - fwd - bwd));
  console.log(row(`optimizer + BN running stats (${values.update}, ${optimizer})`, optMs));
  console.log(`  (of the kernel time, ${ortMade.toFixed(0)} ms ran in nodes ORT made itself (NCHWc Convs, layout reorders), each`);
  console.log(`  counted in the scope of the node before it; ORT's model_run ${runMs.toFixed(0)} ms vs ${mean(program).toFixed(0)} ms around program.run)`);
}
for (const line of perConv) console.log(line);
if (values.json) {
  const stepMsEach = program.map((ms, i) => ms + upd[i]!);
  console.log(JSON.stringify({ impl: 'ours', threads, stepMs: stepMsEach, cpuMs: cpu, losses }));
}

/** Per Conv layer of the step: forward, dX and dW kernel ms (median over the counted steps) and their ratios. */
function perConvLines(profilePath: string): string[] {
  const { graph } = buildTrainGraph(stepOptions, engine.provider); // the same build as the compiled one: its value names and scopes
  const scopeOfValue = new Map(graph.nodes.flatMap((node) => node.outputs.map((v) => [v.name, node.scope] as const)));
  const times = layerTimes(profilePath, GRAD_SCOPE, (v) => scopeOfValue.get(v), 1);
  const lines = [`per Conv layer, kernel ms inside the step, median of ${Number(values.steps)} steps (ratio: the forward's time over the gradient op's, = their GFLOP/s ratio):`];
  let below = 0;
  for (const [label, g] of convLayers(graph)) {
    const t = times.get(label);
    if (!t) continue;
    const ratio = (ms: number): string => {
      if (ms === 0) return '     -';
      if (t.forward / ms < 0.5) below++;
      return `${(t.forward / ms).toFixed(2).padStart(6)}${t.forward / ms < 0.5 ? '<' : ' '}`;
    };
    const shape = `${g.kh}x${g.kw} s${g.stride[0]} C${g.c}->${g.o} ${g.h}x${g.w} N=${g.n}`;
    const grads = t.backward > 0 ? `dX+dW ${t.backward.toFixed(2).padStart(6)} (GEMM form: ${(2 * t.forward / t.backward).toFixed(2)} per op)` :
      `dX ${t.dx.toFixed(2).padStart(6)} ${ratio(t.dx)} dW ${t.dw.toFixed(2).padStart(6)} ${ratio(t.dw)}`;
    lines.push(`  ${label.padEnd(7)} ${shape.padEnd(30)} fwd ${t.forward.toFixed(2).padStart(6)}  ${grads}`);
  }
  lines.push(below === 0 ? '  every gradient op >= 0.5x its forward in the step' : `  ${below} gradient op(s) below 0.5x their forward in the step (<)`);
  return lines;
}
