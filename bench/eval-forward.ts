// Evaluation forward (the program EvalForward runs for kNN, the online classifier and the probe's features): images/s
// with the weights fed as inputs, as a training step must, against the same graph with them compiled in as constants
// (CompileOptions.fixedInputs: weights and BatchNorm running statistics), which lets ORT fold BatchNorm into the
// Convs and run them in its NCHWc layout, for both forward forms (ONNX Convs; small-map Convs as Gather + GEMM).
// Alternating runs, same session settings.
// Usage: npx tsx bench/eval-forward.ts [--width 0.5] [--size 24] [--batch 256] [--channels 1] [--threads 2] [--reps 8]
//   (defaults: make run's evaluation)
import { parseArgs } from 'node:util';
import { Engine, ParameterStore, type Program } from '../trainer/engine/index.js';
import { Graph, type ForwardMethod } from '../trainer/graph/index.js';
import { buildSimclrModel, initParameters, resolveStem, type ModelConfig } from '../trainer/models/index.js';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '0.5' },
    size: { type: 'string', default: '24' },
    batch: { type: 'string', default: '256' },
    channels: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '8' },
  },
});
const [size, batch, channels, reps] = [Number(values.size), Number(values.batch), Number(values.channels), Number(values.reps)];
const model: ModelConfig = {
  arch: 'resnet18', stem: resolveStem('auto', size), widthMultiplier: Number(values.width), inputChannels: channels,
  headLatentSize: 256, nceSize: 64, numClasses: 10,
};

function evalGraph(forward: ForwardMethod | 'auto'): { graph: Graph; store: ParameterStore } {
  const graph = new Graph(`eval_${forward}`);
  const built = buildSimclrModel(graph, graph.input('x', [batch, channels, size, size]), model, 'eval', forward);
  graph.output('h', built.outputs.h);
  graph.output('logits', built.outputs.logits!);
  const store = new ParameterStore();
  const init = initParameters(built.params, 1);
  for (const s of built.params) store.set(s.name, s.shape, init.get(s.name));
  for (const [name, p] of store.entries()) if (name.endsWith('running_var')) p.data.fill(1);
  return { graph, store };
}

const engine = await Engine.create({ provider: 'cpu', threads: Number(values.threads), spinning: false });
interface Case { label: string; program: Program; store: ParameterStore; ms: number[]; compileMs: number }
const cases: Case[] = [];
for (const forward of ['auto', 'conv'] as const) {
  for (const fixed of [false, true]) {
    const { graph, store } = evalGraph(forward);
    const t = performance.now();
    const program = await engine.compile(graph, fixed ? { fixedInputs: (n) => store.get(n)?.data } : {});
    const label = `${fixed ? 'weights fixed' : 'weights as inputs'}, ${forward === 'auto' ? 'small maps as GEMMs' : 'ONNX Convs'}`;
    cases.push({ label, program, store, ms: [], compileMs: performance.now() - t });
  }
}
const x = Float32Array.from({ length: batch * channels * size * size }, () => Math.random());
const h0 = (await cases[0]!.program.run({ x }, cases[0]!.store))['h']!;
const scale = Math.max(...Array.from(h0, Math.abs));
for (const c of cases) {
  const h = (await c.program.run({ x }, c.store))['h']!; // warm-up, and the same features from every form
  const diff = h.reduce((m, v, i) => Math.max(m, Math.abs(v - h0[i]!)), 0);
  if (diff > 1e-3 * scale) throw new Error(`${c.label}: h differs from the reference by ${diff} (max |h| ${scale})`);
}
for (let r = 0; r < reps; r++) {
  for (const c of cases) {
    const t = performance.now();
    await c.program.run({ x }, c.store);
    c.ms.push(performance.now() - t);
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const ref = median(cases[0]!.ms);
console.log(`eval forward: resnet18 w=${model.widthMultiplier} ${size}px x${channels}, batch ${batch}, ${values.threads} threads, median of ${reps} alternating runs`);
console.log(`  ${'program'.padEnd(42)} ${'ms/batch'.padStart(9)} ${'images/s'.padStart(9)} ${'x ref'.padStart(6)} ${'compile ms'.padStart(11)}`);
for (const c of cases) {
  const m = median(c.ms);
  console.log(`  ${c.label.padEnd(42)} ${m.toFixed(1).padStart(9)} ${(batch / (m / 1e3)).toFixed(0).padStart(9)} ${(ref / m).toFixed(2).padStart(6)} ${c.compileMs.toFixed(0).padStart(11)}`);
}
console.log('  (x ref: images/s against the first row, what EvalForward ran before; it now runs "weights fixed, ONNX Convs")');
for (const c of cases) await c.program.release();
