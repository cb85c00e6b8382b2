/**
 * How far N replicas' weights drift from one process training the same global batch in the same chunks, step by step,
 * against how far training moved them (the reference, from the same run): the ratio says whether a comparison at a
 * given step can tell a wrong step from rounding. Real `simclr train` processes on Fashion-MNIST, test/dist's tiny
 * model (ResNet-18 at width 1/16, 12 px, batch 8 per chunk), a checkpoint after every step.
 *   node --import tsx bench/replica-equivalence.ts        BENCH_STEPS=5
 * Cases: 2 and 4 replicas x 8 images against 1 process in chunks of 8 (what test/dist/train.test.ts asserts); 2
 * replicas x 16 in chunks of 8 against the same process (the order of the sums alone differs, as with 4); and 4
 * replicas at the old test's settings (default warmup: lr ~1e-5).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listManifests, loadCheckpoint, type LoadedCheckpoint } from '../trainer/checkpoint/index.js';
import { Graph } from '../trainer/graph/index.js';
import { buildSimclrModel, initParameters, type ModelConfig } from '../trainer/models/index.js';
import { freePort, rankEnv, scriptArgs, spawnRank } from '../test/dist/helpers.js';

const steps = Number(process.env.BENCH_STEPS ?? 5);
const CLI = scriptArgs(import.meta.url, '../trainer/cli/main.ts');
const MOVING = ['--warmup=0', '--lr=0.3'];

interface Case {
  name: string;
  worldSize: number;
  /** Flags of both runs beyond the common ones. */
  flags: string[];
  replicaChunk?: number;
}

const CASES: Case[] = [
  { name: '2 replicas x 8', worldSize: 2, flags: MOVING },
  { name: '4 replicas x 8', worldSize: 4, flags: MOVING },
  { name: '2 replicas x 16, chunks of 8', worldSize: 2, flags: MOVING, replicaChunk: 8 },
  { name: '4 replicas x 8, old settings (warmup 10 epochs)', worldSize: 4, flags: [] },
];

async function train(dir: string, uid: string, worldSize: number, args: string[]): Promise<void> {
  const port = await freePort();
  const common = ['train', '--dataset=fashion-mnist', '--arch=resnet18', '--width-multiplier=0.0625', '--image-size-override=12',
    '--head-latent-size=32', '--nce-size=16', '--epochs=1', '--threads=1', `--max-steps=${steps}`, '--checkpoint-every=1',
    `--keep-checkpoints=${steps}`, `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`];
  const ranks = Array.from({ length: worldSize }, (_v, rank) =>
    spawnRank(CLI, { rank, env: worldSize === 1 ? {} : rankEnv(rank, worldSize, port), args: [...common, ...args], killAfterMs: 600_000 }));
  for (const r of await Promise.all(ranks.map((p) => p.done))) {
    if (r.exitCode !== 0) throw new Error(`${uid} rank ${r.rank} exited ${r.exitCode ?? r.signal}: ${r.stderr.slice(-800)}`);
  }
}

async function checkpoints(dir: string, uid: string): Promise<LoadedCheckpoint[]> {
  const all = await Promise.all((await listManifests(join(dir, 'models', uid))).map((m) => loadCheckpoint(m)));
  return all.sort((a, b) => a.step - b.step);
}

/** Largest |a - b| over weights and optimizer state. */
function distance(a: LoadedCheckpoint, b: LoadedCheckpoint): number {
  let max = 0;
  for (const part of ['weights', 'optimizer'] as const) {
    for (const [name, t] of Object.entries(a[part])) {
      const x = t.data as Float32Array;
      const y = b[part][name]!.data as Float32Array;
      for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
    }
  }
  return max;
}

/** The median over trained tensors of max |w - w0| (w0: train's seeded initialisation, --seed 42). */
function medianMove(c: LoadedCheckpoint): number {
  const input = c.extra?.input as { inputChannels: number; height: number; width: number };
  const g = new Graph('specs');
  const specs = buildSimclrModel(g, g.input('x', [1, input.inputChannels, input.height, input.width]), c.extra?.model as ModelConfig, 'train').params;
  const init = initParameters(specs, 42);
  const moves = specs.filter((s) => !s.isBuffer).map((s) => {
    const w = c.weights[s.name]!.data as Float32Array;
    const w0 = init.get(s.name)!;
    let m = 0;
    for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]! - w0[i]!));
    return m;
  }).sort((a, b) => a - b);
  return moves[moves.length >> 1]!;
}

const dir = await mkdtemp(join(tmpdir(), 'bench-replica-equivalence-'));
try {
  console.log('| case | step | max abs(single - replicas) | median tensor move | drift / move |');
  console.log('|---|---|---|---|---|');
  for (const [k, c] of CASES.entries()) {
    const batch = `--batch-size=${c.worldSize * 8 * (c.replicaChunk === undefined ? 1 : 2)}`;
    await Promise.all([
      train(dir, `single-${k}`, 1, [batch, '--gradient-cache-chunk=8', ...c.flags]),
      train(dir, `replicas-${k}`, c.worldSize, [batch, ...(c.replicaChunk ? [`--gradient-cache-chunk=${c.replicaChunk}`] : []), ...c.flags]),
    ]);
    const [a, b] = await Promise.all([checkpoints(dir, `single-${k}`), checkpoints(dir, `replicas-${k}`)]);
    for (let s = 0; s < a.length; s++) {
      const d = distance(a[s]!, b[s]!);
      const move = medianMove(a[s]!);
      console.log(`| ${c.name} | ${a[s]!.step} | ${d.toExponential(2)} | ${move.toExponential(2)} | ${(d / move).toExponential(1)} |`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
