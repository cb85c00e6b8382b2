/**
 * What the planned-stop vote costs per step: every step, the ranks allreduce one float (did any rank get SIGTERM?)
 * so that they stop at the same step (trainer/train/planned-stop.ts). Measured over real rank processes (Gloo, TCP on
 * loopback) against the reference a step already pays in the same run: the gradient allreduce of the smallest model
 * we train (ResNet-18 at width 1/16, 12 px: about 1 MB of float32 gradients).
 *   node --import tsx bench/stop-vote.ts            (or node dist/bench/stop-vote.js after `npm run build`)
 *   BENCH_RANKS=2,4 to choose.
 */
import { spawn } from 'node:child_process';

import { ProcessGroup } from '../trainer/collectives/index.js';
import { freePort } from '../trainer/collectives/free-port.js';

const VOTES = 2000;
const GRADIENT_FLOATS = 262_144; // 1 MB

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(n: number, op: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return median(times);
}

/** One rank: rank 0 prints the medians (µs) as one JSON line. */
async function rankMain(): Promise<void> {
  const env = process.env;
  const pg = await ProcessGroup.init({ rank: Number(env.RANK), worldSize: Number(env.WORLD_SIZE), masterAddr: '127.0.0.1',
    masterPort: Number(env.MASTER_PORT), rendezvousTimeoutMs: 30_000, collectiveTimeoutMs: 120_000 });
  const vote = new Float32Array(1);
  const grads = new Float32Array(GRADIENT_FLOATS).fill(1);
  await timed(100, () => pg.allreduceSum(vote)); // warm-up
  await timed(5, () => pg.allreduceSum(grads));
  await pg.barrier();
  const voteUs = await timed(VOTES, () => pg.allreduceSum(vote));
  await pg.barrier();
  const gradUs = await timed(50, () => pg.allreduceSum(grads));
  if (pg.rank === 0) process.stdout.write(`${JSON.stringify({ voteUs, gradUs })}\n`);
  await pg.destroy();
}

async function runRanks(worldSize: number): Promise<{ voteUs: number; gradUs: number }> {
  const port = await freePort();
  const children = Array.from({ length: worldSize }, (_v, rank) =>
    spawn(process.execPath, [...process.execArgv, process.argv[1]!], {
      env: { ...process.env, BENCH_ROLE: 'rank', RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    }));
  let out = '';
  children[0]!.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('close', r))));
  if (codes.some((c) => c !== 0)) throw new Error(`a rank failed: exit codes ${codes.join(', ')}`);
  return JSON.parse(out.trim()) as { voteUs: number; gradUs: number };
}

async function main(): Promise<void> {
  if (process.env.BENCH_ROLE === 'rank') return rankMain();
  const rows: string[] = [];
  for (const n of (process.env.BENCH_RANKS ?? '2,4').split(',').map(Number)) {
    const r = await runRanks(n);
    rows.push(`${String(n).padEnd(6)} ${r.voteUs.toFixed(0).padStart(9)} µs ${r.gradUs.toFixed(0).padStart(12)} µs ` +
      `${(r.voteUs / r.gradUs).toFixed(3).padStart(10)}`);
  }
  process.stdout.write('planned-stop vote (allreduce of 1 float) vs a 1 MB gradient allreduce, medians, Gloo TCP on loopback\n' +
    `ranks       vote   1 MB allreduce   vote/1MB\n${rows.join('\n')}\n`);
}

await main();
