// Per-op Conv gradient benchmark on ONNX Runtime (CPU by default): GFLOP/s of the forward Conv, of each dX and dW
// formulation trainer/graph can emit, and their ratios to the forward Conv measured in the same run (interleaved,
// so background load hits all of them alike). The bar: no gradient op below half the forward's GFLOP/s.
// The headline time is ORT's own for the run (its profiler's model_run): the op as a training step runs it, without
// the 0.5-2.5 ms this harness spends handing multi-MB inputs and outputs between JS and ORT on every run (the step
// keeps these tensors inside the graph) and without its Reshape nodes (views in a step; ORT copies one that writes a
// graph output). Wall time from JS is shown beside it.
//
//   npx tsx bench/conv-grad.ts [--threads 2] [--reps 5] [--runs 1] [--provider cpu] [--layers substr,substr] [--all]
//     [--recipe [--width 0.5] [--views 256]]
//
// `--runs N` measures every layer N times over (fresh sessions each time) and ends with the bar's verdict on the
// median over runs of each chosen gradient op's in-ORT ratio: single runs of the ops near the bar swing by +-0.1-0.2.

import { parseArgs } from 'node:util';
import { Graph, op, type Value } from '../trainer/graph/index.js';
import { chooseForwardMethod, chooseInputGradMethod, convGeometry, convInputGrad, type ConvGeometry, type InputGradMethod } from '../trainer/graph/rules/conv.js';
import { fitsCol2im, fitsGemmForward } from '../trainer/graph/rules/conv-gather.js';
import { chooseWeightGradMethod, convWeightGrad, type WeightGradMethod } from '../trainer/graph/rules/conv-weight-grad.js';
import { ALTERNATIVE_WEIGHT_GRADS, alternativeApplies, alternativeWeightGrad } from './conv-grad-alternatives.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type Program, parseProvider } from '../trainer/engine/index.js';
import { kernelMsByRun, latestProfile, splitRuns } from '../trainer/engine/profile.js';

interface Layer {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  opts: op.Conv2dOptions;
  /**
   * A Conv reading the same input (ResNet's downsampling 3x3 beside its 1x1 shortcut). Where the two dWs share work
   * (WeightGradContext), the shortcut's dW is also timed as the step runs it: both dWs in one graph minus the
   * sibling's alone, paired rep by rep.
   */
  sibling?: Omit<Layer, 'name' | 'sibling'>;
  /** The model's first Conv: it reads the images, which need no gradient, so training builds no dX for it. */
  stem?: boolean;
}

const LAYERS: Layer[] = [
  { name: '3x3 s1 C64->64 32x32', x: [64, 64, 32, 32], w: [64, 64, 3, 3], opts: { padding: 1 } },
  { name: '3x3 s2 C64->128 32x32', x: [64, 64, 32, 32], w: [128, 64, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: '3x3 s1 C128->128 16x16', x: [64, 128, 16, 16], w: [128, 128, 3, 3], opts: { padding: 1 } },
  { name: '3x3 s1 C256->256 4x4 (deep layer, 32px input)', x: [64, 256, 4, 4], w: [256, 256, 3, 3], opts: { padding: 1 } },
  { name: '3x3 s2 C128->256 8x8', x: [64, 128, 8, 8], w: [256, 128, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: '1x1 s1 C64->256 16x16', x: [64, 64, 16, 16], w: [256, 64, 1, 1], opts: {} },
  { name: '1x1 s2 C64->128 32x32', x: [64, 64, 32, 32], w: [128, 64, 1, 1], opts: { stride: 2 }, sibling: { x: [64, 64, 32, 32], w: [128, 64, 3, 3], opts: { stride: 2, padding: 1 } } },
  { name: '3x3 s1 C3->64 32x32 (CIFAR stem)', x: [64, 3, 32, 32], w: [64, 3, 3, 3], opts: { padding: 1 }, stem: true },
  { name: '7x7 s2 C3->64 64x64 (ImageNet stem)', x: [64, 3, 64, 64], w: [64, 3, 7, 7], opts: { stride: 2, padding: 3 }, stem: true },
];

// `--recipe [--width 0.5] [--views 256]`: the layers of a ResNet-18 with CIFAR stem on 16 px, 1-channel inputs, as
// `make run` trains it (Makefile RECIPE: batch 128 = 256 views per step), where channels are few and maps tiny.
function recipeLayers(width: number, views: number): Layer[] {
  const c = (base: number): number => Math.max(1, Math.round(base * width));
  const conv3 = (name: string, cin: number, cout: number, hw: number, stride = 1): Layer => ({
    name: `recipe ${name} 3x3 s${stride} C${cin}->${cout} ${hw}x${hw}`, x: [views, cin, hw, hw], w: [cout, cin, 3, 3], opts: { stride, padding: 1 },
  });
  const [c1, c2, c3, c4] = [c(64), c(128), c(256), c(512)];
  const layer20 = conv3('layer2.0', c1, c2, 16, 2);
  return [
    { ...conv3('stem', 1, c1, 16), stem: true },
    conv3('layer1', c1, c1, 16),
    layer20,
    conv3('layer2', c2, c2, 8),
    conv3('layer3.0', c2, c3, 8, 2),
    conv3('layer3', c3, c3, 4),
    conv3('layer4.0', c3, c4, 4, 2),
    conv3('layer4', c4, c4, 2),
    { name: `recipe layer2.0 shortcut 1x1 s2 C${c1}->${c2} 16x16`, x: [views, c1, 16, 16], w: [c2, c1, 1, 1], opts: { stride: 2 }, sibling: layer20 },
  ];
}

// The formulation the Conv rule emits comes first; 'conv' is the textbook reference the issue compares against.
const DX: InputGradMethod[] = ['flipped-conv', 'conv-transpose', 'gemm-col2im', 'col2im-op'];
const DW: WeightGradMethod[] = ['taps-batched', 'im2col-conv', 'im2col-conv-sep', 'im2col-gather', 'im2col-gather-cm', 'rows-cols', 'conv'];

interface Case {
  label: string;
  program: Program;
  profile: string;
  feeds: Record<string, Float32Array>;
  ms: number[];
  cpuMs: number[];
  ortMs: number[];
  /** Reported as this case's times minus those of `minus` in the same rep (its marginal cost). */
  minus?: Case;
  /** Another layer's op: times only, no rates against this layer's forward. */
  timesOnly?: boolean;
}

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '5' },
    runs: { type: 'string', default: '1' },
    provider: { type: 'string', default: 'cpu' },
    layers: { type: 'string' },
    all: { type: 'boolean', default: false },
    recipe: { type: 'boolean', default: false },
    width: { type: 'string', default: '0.5' },
    views: { type: 'string', default: '256' },
  },
});
const threads = Number(values.threads);
const reps = Number(values.reps);
const runs = Number(values.runs);

function randomData(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const profileDir = mkdtempSync(join(tmpdir(), 'conv-grad-'));
process.on('exit', () => rmSync(profileDir, { recursive: true, force: true }));
let sessions = 0;

// One engine per case: ORT names profile files by prefix and second, so each session gets its own prefix.
async function compileOne(label: string, inputs: Record<string, readonly number[]>, build: (v: Record<string, Value>) => Value | Value[]): Promise<Case> {
  const profile = join(profileDir, `s${sessions++}`);
  const engine = await Engine.create({ provider: parseProvider(values.provider), threads, spinning: false, profilePrefix: profile });
  const g = new Graph(label.replace(/\W+/g, '_'), engine.provider);
  const vs = Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, g.input(k, s)]));
  [build(vs)].flat().forEach((v, i) => g.output(`out${i}`, v));
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, randomData(s.reduce((a, b) => a * b, 1))]));
  return { label, program: await engine.compile(g), profile, feeds, ms: [], cpuMs: [], ortMs: [] };
}

/** The losing forms are not in the trainer's tests: check each against the textbook Conv form before timing it. */
async function assertAgrees(c: Case, reference: Case): Promise<void> {
  c.feeds = reference.feeds;
  const [got, want] = [(await c.program.run(c.feeds))['out0']!, (await reference.program.run(reference.feeds))['out0']!];
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
  if (!(worst <= 1e-5 * scale)) throw new Error(`${c.label}: differs from the Conv form by ${worst} (largest |dW| ${scale})`);
}

async function cases(l: Layer, g: ConvGeometry): Promise<Case[]> {
  const dyShape = [g.n, g.o, g.ho, g.wo];
  const out = [await compileOne('forward Conv', { x: l.x, w: l.w }, (v) => op.conv2d(v['x']!, v['w']!, l.opts))];
  if (g.kh * g.kw > 1 && fitsGemmForward(g)) {
    // Training graphs run the forward itself as Gather + GEMM where chooseForwardMethod says so.
    const mark = chooseForwardMethod(g) === 'gemm' ? '*' : ' ';
    out.push(await compileOne(`fwd${mark} gemm`, { x: l.x, w: l.w }, (v) => op.conv2d(v['x']!, v['w']!, { ...l.opts, forward: 'gemm' })));
  }
  const strided = g.stride[0] !== 1 || g.stride[1] !== 1;
  // Where the forward runs as Gather + GEMM, autodiff differentiates that instead: its dX is gemm-col2im's GEMMs.
  const chosenDx = chooseForwardMethod(g) === 'gemm' ? 'gemm-col2im' : chooseInputGradMethod(g);
  for (const m of l.stem ? [] : DX) {
    if (m === 'flipped-conv' && strided) continue; // does not apply: it would fall back to conv-transpose
    if (m === 'gemm-col2im' && !fitsCol2im(g)) continue; // likewise (its scatter matrix grows as (H*W)^2)
    const mark = m === chosenDx ? '*' : ' ';
    out.push(await compileOne(`dX${mark} ${m}`, { dy: dyShape, w: l.w }, (v) => convInputGrad(v['dy']!, v['w']!, g, m)));
  }
  const chosenAlone = chooseWeightGradMethod(g);
  const sg = l.sibling && convGeometry(l.sibling.x, l.sibling.w, l.sibling.opts);
  const context = sg && chooseWeightGradMethod(sg) === 'im2col-gather-cm' ? { transposedBy: sg } : {};
  const chosenBeside = sg && chooseWeightGradMethod(g, context);
  const beside = chosenBeside !== undefined && chosenBeside !== chosenAlone ? chosenBeside : undefined;
  for (const m of DW) {
    const mark = m === chosenAlone && !beside ? '*' : ' ';
    out.push(await compileOne(`dW${mark} ${m}`, { x: l.x, dy: dyShape }, (v) => convWeightGrad(v['x']!, v['dy']!, g, m)));
  }
  for (const m of values.all ? ALTERNATIVE_WEIGHT_GRADS.filter((a) => alternativeApplies(a, g)) : []) {
    const reference = out.find((c) => c.label.replace('*', ' ') === 'dW  conv')!;
    const alternative = await compileOne(`dW  ${m}`, { x: l.x, dy: dyShape }, (v) => alternativeWeightGrad(m, v['x']!, v['dy']!, g));
    await assertAgrees(alternative, reference);
    out.push(alternative);
  }
  if (beside && sg) {
    const sdy = [sg.n, sg.o, sg.ho, sg.wo];
    const alone = await compileOne('  sibling dW alone', { x: l.x, sdy }, (v) => convWeightGrad(v['x']!, v['sdy']!, sg));
    const both = await compileOne(`dW* ${beside} +sib`, { x: l.x, dy: dyShape, sdy }, (v) => [
      convWeightGrad(v['x']!, v['sdy']!, sg),
      convWeightGrad(v['x']!, v['dy']!, g, beside, context),
    ]);
    alone.timesOnly = true;
    both.minus = alone;
    out.push(alone, both);
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** In-ORT ratio to the forward of each op the Conv gradient rule emits, per layer and op, one entry per run. */
const chosenRatios = new Map<string, number[]>();

async function benchLayer(l: Layer): Promise<void> {
  const g = convGeometry(l.x, l.w, l.opts);
  const gflop = (2 * g.n * g.o * g.ho * g.wo * g.c * g.kh * g.kw) / 1e9;
  const cs = await cases(l, g);
  for (const c of cs) await c.program.run(c.feeds); // warm-up
  for (let r = 0; r < reps; r++) {
    for (const c of cs) {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await c.program.run(c.feeds);
      c.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const cpu = process.cpuUsage(cpu0);
      c.cpuMs.push((cpu.user + cpu.system) / 1e3);
    }
  }
  for (const c of cs) {
    await c.program.release(); // writes the profile
    // Minus the warm-up, and minus Reshapes: views inside a step (0.01-0.04 ms), but where one writes a graph output,
    // as the op's last node does here, ORT copies it (1.3 ms for make run's shortcut dX, the same bytes as the op's).
    const profile = latestProfile(c.profile);
    const reshapes = kernelMsByRun(profile, /(?:^|\/)Reshape_\d+$/);
    c.ortMs = splitRuns(profile, 'grad').map((r, i) => r.runMs - reshapes[i]!).slice(1);
  }
  for (const c of cs) {
    const base = c.minus;
    if (!base) continue;
    const less = (a: number[], b: number[]): number[] => a.map((v, i) => v - b[i]!);
    [c.ms, c.cpuMs, c.ortMs] = [less(c.ms, base.ms), less(c.cpuMs, base.cpuMs), less(c.ortMs, base.ortMs)];
  }
  const rate = (ms: number): number => gflop / (ms / 1e3);
  const [fwdOrt, fwdWall, fwdCpu] = [rate(median(cs[0]!.ortMs)), rate(median(cs[0]!.ms)), rate(median(cs[0]!.cpuMs))];
  console.log(`\n${l.name}  N=${g.n}  (${gflop.toFixed(2)} GFLOP per op)${l.stem ? '; no dX: training builds none for the images' : ''}`);
  console.log(`  ${'op'.padEnd(26)} ${'in ORT ms'.padStart(9)} ${'GFLOP/s'.padStart(8)} ${'/fwd'.padStart(6)} | ${'wall ms'.padStart(7)} ${'/fwd'.padStart(6)} | ${'per CPU-s'.padStart(9)} ${'/fwd'.padStart(6)}`);
  for (const c of cs) {
    if (c.timesOnly) {
      console.log(`  ${c.label.padEnd(26)} ${median(c.ortMs).toFixed(1).padStart(9)} ${''.padStart(15)} | ${median(c.ms).toFixed(1).padStart(7)}`);
      continue;
    }
    const [ortRate, wall, cpu] = [rate(median(c.ortMs)), rate(median(c.ms)), rate(median(c.cpuMs))];
    const chosen = c.label.startsWith('d') && c.label.includes('*');
    if (chosen) chosenRatios.set(`${l.name} | ${c.label}`, [...chosenRatios.get(`${l.name} | ${c.label}`) ?? [], ortRate / fwdOrt]);
    const flag = chosen && ortRate / fwdOrt < 0.5 ? '  < 0.5 (chosen formulation)' : '';
    console.log(`  ${c.label.padEnd(26)} ${median(c.ortMs).toFixed(1).padStart(9)} ${ortRate.toFixed(1).padStart(8)} ${(ortRate / fwdOrt).toFixed(2).padStart(6)} | ${median(c.ms).toFixed(1).padStart(7)} ${(wall / fwdWall).toFixed(2).padStart(6)} | ${cpu.toFixed(1).padStart(9)} ${(cpu / fwdCpu).toFixed(2).padStart(6)}${flag}`);
  }
}

const wanted = values.layers?.split(',');
console.log(`conv-grad: provider=${values.provider} threads=${threads} reps=${reps}; ratios against the forward Conv of the same run.`);
console.log('  in ORT: median of ORT\'s own run time (profiler model_run); wall: median wall-clock from JS, which adds');
console.log('  moving inputs and outputs across the binding; per CPU-s: GFLOP per CPU-second of this process (robust to');
console.log('  other processes sharing the cores; ORT thread spinning is off so idle threads do not count).');
console.log('  * marks the formulation the Conv gradient rule emits for that layer.');
const layers = (values.recipe ? recipeLayers(Number(values.width), Number(values.views)) : LAYERS).filter((l) => !wanted || wanted.some((w) => l.name.includes(w)));
for (let run = 1; run <= runs; run++) {
  if (runs > 1) console.log(`\n=== run ${run} of ${runs}`);
  for (const l of layers) await benchLayer(l);
}
if (runs > 1) {
  console.log(`\nchosen gradient ops, in-ORT ratio to the forward over ${runs} runs: median (min-max)`);
  let below = 0;
  for (const [op, ratios] of chosenRatios) {
    const m = median(ratios);
    if (m < 0.5) below++;
    console.log(`  ${m.toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})  ${op}${m < 0.5 ? '  < 0.5' : ''}`);
  }
  console.log(below === 0 ? 'bar met: every chosen gradient op\'s median >= 0.5x the forward' : `bar NOT met: ${below} chosen gradient op(s) with a median below 0.5x the forward`);
}
