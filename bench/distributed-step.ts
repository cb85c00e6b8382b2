/**
 * What exact global negatives cost: images/s of one global batch trained three ways, each a real `simclr train`
 * process (or processes) on Fashion-MNIST, measured in the same run:
 *   fused         1 process, the whole batch in one forward + backward (the reference)
 *   chunked       1 process, gradient-cache step in chunks of batch/4 (memory-bounded mode, ORT arenas off)
 *   replicas-2    2 processes x batch/2, one thread each, gradient-cache step with allgather + allreduce over Gloo
 *   synced-2      the same with --convert-to-sync-bn: BatchNorm statistics summed across the replicas inside the
 *                 graph (two allreduces of C floats per BatchNorm forward, one of 2C backward, each pass)
 * Throughput is taken from the trainer's per-step debug logs (pino `time`), skipping the first steps (compilation,
 * warm-up). The fused run uses as many ORT threads as the 2-replica run uses processes, so the comparison is per core.
 *   node --import tsx bench/distributed-step.ts     BENCH_BATCH=256 BENCH_STEPS=8 BENCH_SIZE=16 BENCH_WIDTH=0.125
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, rankEnv, scriptArgs, spawnRank, type RankProcess } from '../test/dist/helpers.js';

const batch = Number(process.env.BENCH_BATCH ?? 256);
const steps = Number(process.env.BENCH_STEPS ?? 8);
const size = Number(process.env.BENCH_SIZE ?? 16);
const width = Number(process.env.BENCH_WIDTH ?? 0.125);
const WARMUP = 2;

const CLI = scriptArgs(import.meta.url, '../trainer/cli/main.ts');
/** A hung trainer (e.g. a rank waiting on a dead peer) ends the bench instead of stalling it. */
const KILL_AFTER_MS = 30 * 60_000;

/** The times (ms) of a trainer's step logs, once it has exited cleanly. */
async function stepTimes(trainer: RankProcess): Promise<number[]> {
  const r = await trainer.done;
  if (r.exitCode !== 0) throw new Error(`trainer exited ${r.exitCode ?? r.signal}: ${r.stderr.slice(-1000)}`);
  return r.stdoutLines.filter((l) => l.includes('"msg":"step"')).map((l) => (JSON.parse(l) as { time: number }).time);
}

async function imagesPerSecond(dir: string, name: string, extra: string[], replicas = 1): Promise<number> {
  const port = await freePort();
  const common = [
    '--dataset=fashion-mnist',
    '--arch=resnet18',
    `--width-multiplier=${width}`,
    `--image-size-override=${size}`,
    `--batch-size=${batch}`,
    '--epochs=1',
    `--max-steps=${steps}`,
    '--log-level=debug',
    `--uid=${name}`,
    `--model-dir=${join(dir, 'models')}`,
    `--log-dir=${join(dir, 'runs')}`,
    ...extra,
  ];
  const runs = Array.from({ length: replicas }, (_v, rank) => {
    const env = replicas === 1 ? {} : rankEnv(rank, replicas, port);
    return stepTimes(spawnRank(CLI, { rank, env, args: ['train', ...common], killAfterMs: KILL_AFTER_MS }));
  });
  const times = (await Promise.all(runs))[0];
  const measured = times.slice(WARMUP - 1); // from the end of step WARMUP-1 to the end of the last step
  const seconds = (measured.at(-1)! - measured[0]) / 1000;
  return ((measured.length - 1) * batch) / seconds;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'simclr-bench-dist-'));
  try {
    console.log(`global batch ${batch}, ${size}px, ResNet-18 width ${width}, ${steps} steps (first ${WARMUP} skipped)`);
    const fused = await imagesPerSecond(dir, 'fused', ['--threads=2']);
    const rows: [string, number][] = [
      ['fused, 1 process, 2 threads', fused],
      [`gradient cache, chunks of ${batch / 4}, 1 process, 2 threads`, await imagesPerSecond(dir, 'chunked', ['--threads=2', `--gradient-cache-chunk=${batch / 4}`])],
      ['2 replicas x 1 thread (Gloo, loopback)', await imagesPerSecond(dir, 'replicas-2', ['--threads=1'], 2)],
      ['the same, --convert-to-sync-bn', await imagesPerSecond(dir, 'synced-2', ['--threads=1', '--convert-to-sync-bn'], 2)],
    ];
    for (const [label, ips] of rows) console.log(`${label.padEnd(48)} ${ips.toFixed(0).padStart(6)} img/s  ${(ips / fused).toFixed(2)}x fused`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
