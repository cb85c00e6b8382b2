/**
 * What exact global negatives cost: images/s of one global batch trained three ways, each a real `simclr train`
 * process (or processes) on Fashion-MNIST, measured in the same run:
 *   fused         1 process, the whole batch in one forward + backward (the reference)
 *   chunked       1 process, gradient-cache step in chunks of batch/4 (memory-bounded mode, ORT arenas off)
 *   replicas-2    2 processes x batch/2, one thread each, gradient-cache step with allgather + allreduce over Gloo
 * Throughput is taken from the trainer's per-step debug logs (pino `time`), skipping the first steps (compilation,
 * warm-up). The fused run uses as many ORT threads as the 2-replica run uses processes, so the comparison is per core.
 *   node --import tsx bench/distributed-step.ts     BENCH_BATCH=256 BENCH_STEPS=8 BENCH_SIZE=16 BENCH_WIDTH=0.125
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../trainer/dist/free-port.js';

const batch = Number(process.env.BENCH_BATCH ?? 256);
const steps = Number(process.env.BENCH_STEPS ?? 8);
const size = Number(process.env.BENCH_SIZE ?? 16);
const width = Number(process.env.BENCH_WIDTH ?? 0.125);
const WARMUP = 2;

const self = fileURLToPath(import.meta.url);
const cli = self.endsWith('.ts')
  ? ['--import', 'tsx', join(self, '../../trainer/cli/main.ts')]
  : [join(self, '../../trainer/cli/main.js')];


/** Runs one process; resolves with the times (ms) of its step logs. */
function runTrainer(args: string[], env: Record<string, string>): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cli, 'train', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`trainer exited ${code}: ${err.slice(-1000)}`));
      const times = out
        .split('\n')
        .filter((l) => l.includes('"msg":"step"'))
        .map((l) => (JSON.parse(l) as { time: number }).time);
      resolve(times);
    });
  });
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
  const runs = Array.from({ length: replicas }, (_v, rank) =>
    runTrainer(common, replicas === 1 ? {} : { RANK: String(rank), WORLD_SIZE: String(replicas), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
  );
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
    ];
    for (const [label, ips] of rows) console.log(`${label.padEnd(48)} ${ips.toFixed(0).padStart(6)} img/s  ${(ips / fused).toFixed(2)}x fused`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
