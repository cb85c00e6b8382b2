// Training-step benchmark: images/s of the fused SimCLR step (forward + backward on ORT, optimizer in JS) for a
// given model, batch and provider, the ORT thread count, and the time split between forward, backward and optimizer:
// ORT's profiler times every node, and the autodiff names the nodes it builds 'grad/...' (trainer/graph GRAD_SCOPE),
// so kernel time splits into forward and backward; the optimizer (+ BN running stats) runs on the host and is timed
// directly.
// Usage: npx tsx bench/train-step.ts [--width 0.125] [--batch 256] [--size 28] [--channels 1] [--threads 2]
//   [--provider cpu] [--steps 5] [--optimizer lars|sgd|adam|adamw] [--head 512] [--nce 128] [--spinning off|on]
//   [--keep-profile] [--profile off] [--json] [--per-conv]
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
import { TrainStep, applyUpdate, buildTrainGraph } from '../trainer/train/step.js';
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
const engine = await Engine.create({
  provider: parseProvider(values.provider),
  threads,
  spinning: values.spinning === 'on',
  ...(profiling ? { profilePrefix: join(profileDir, 'step') } : {}),
});
let t = performance.now();
const stepOptions = { model, batchSize: b, height: size, width: size, temperature: 0.2 };
const step = await TrainStep.compile(engine, stepOptions);
console.log(`compile ${((performance.now() - t) / 1000).toFixed(1)} s`);
const store = new ParameterStore();
const init = initParameters(step.specs, 1);
for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
const opt = createOptimizer({ optimizer, momentum: 0.9, weightDecay: 1e-6 });
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
  t = performance.now();
  const r = await step.run({ view1, view2, labels }, store);
  const t1 = performance.now();
  applyUpdate(r, step.specs, store, opt, { lr: optimizer.startsWith('adam') ? 2e-3 : 0.1, clip: 0 });
  const t2 = performance.now();
  const used = process.cpuUsage(cpu0);
  losses.push(r.loss);
  if (i > 0) {
    program.push(t1 - t);
    upd.push(t2 - t1);
    cpu.push((used.user + used.system) / 1e3);
  }
  console.log(`step ${i}${i === 0 ? ' (warm-up, not counted)' : ''}: loss ${r.loss.toFixed(4)} program ${(t1 - t).toFixed(0)} ms, update ${(t2 - t1).toFixed(0)} ms`);
}
await step.release(); // ORT writes the profile when the session goes
const profile = profiling ? latestProfile(join(profileDir, 'step')) : '';
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
    `${optimizer}: step ${stepMs.toFixed(0)} ms, ${((b * 1000) / stepMs).toFixed(0)} images/s; ` +
    `${mean(cpu).toFixed(0)} CPU-ms per step, ${((b * 1000) / mean(cpu)).toFixed(0)} images per CPU-s (spinning ${values.spinning})`,
);
if (profiling) {
  const split = (f: (r: RunSplit) => number): number => mean(runs.map(f));
  const [fwd, bwd, ortMade, runMs] = [split((r) => r.kernelMs.forward), split((r) => r.kernelMs.backward), split((r) => r.ortMadeMs), split((r) => r.runMs)];
  console.log(`time split per step (mean of ${runs.length} steps; ORT profiler kernel time per node scope):`);
  console.log(row('forward (encoder, head, NT-Xent, classifier)', fwd));
  console.log(row(`backward (autodiff nodes, '${GRAD_SCOPE}/...')`, bwd));
  console.log(row('ORT run overhead (run wall - kernels, I/O)', mean(program) - fwd - bwd));
  console.log(row(`optimizer + BN running stats (host, ${optimizer})`, optMs));
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
