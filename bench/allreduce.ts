/**
 * Allreduce bandwidth of the Gloo addon over local ranks (real processes, TCP on loopback), next to memcpy.
 *   node --import tsx bench/allreduce.ts            (or node dist/bench/allreduce.js after `npm run build`)
 *   BENCH_RANKS=2,4 BENCH_SIZES_MB=1,16,100 to choose.
 * Bus bandwidth = 2(n-1)/n x bytes / time (the traffic each rank's links carry in a ring allreduce), the number
 * NCCL's tests print; memcpy = Buffer.copy of the same bytes, in this process, in this run. A second reference is
 * the raw TCP loopback throughput between two Node processes (net sockets), also measured in this run: Gloo's ring
 * runs over the same loopback. The time includes the addon's copy of the input (results are handed to JS without a
 * second copy).
 */
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

import { ProcessGroup } from '../trainer/collectives/index.js';
import { freePort } from '../trainer/collectives/free-port.js';

const MB = 1 << 20;

function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  return raw ? raw.split(',').map(Number) : fallback;
}

function itersFor(bytes: number): number {
  return bytes <= MB ? 30 : bytes <= 16 * MB ? 8 : 3;
}

/** One rank: times each size after a warm-up; rank 0 prints one JSON line per size. */
async function rankMain(): Promise<void> {
  const env = process.env;
  const pg = await ProcessGroup.init({
    rank: Number(env.RANK),
    worldSize: Number(env.WORLD_SIZE),
    masterAddr: '127.0.0.1',
    masterPort: Number(env.MASTER_PORT),
    rendezvousTimeoutMs: 30_000,
    collectiveTimeoutMs: 120_000,
  });
  for (const mb of envList('BENCH_SIZES_MB', [1, 16, 100])) {
    const bytes = mb * MB;
    const data = new Float32Array(bytes / 4).fill(1);
    await pg.allreduceSum(data); // warm-up: connections, page faults
    const iters = itersFor(bytes);
    await pg.barrier();
    const t0 = process.hrtime.bigint();
    let out = data;
    for (let i = 0; i < iters; i++) out = await pg.allreduceSum(data);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
    if (out[out.length - 1] !== pg.worldSize) throw new Error(`wrong sum ${out[out.length - 1]}`);
    if (pg.rank === 0) process.stdout.write(`${JSON.stringify({ mb, bytes, seconds })}\n`);
  }
  await pg.destroy();
}


/** Best Buffer.copy bandwidth (GB/s) for `bytes`, touching both buffers first. */
function memcpyGBps(bytes: number): number {
  const src = Buffer.alloc(bytes, 1);
  const dst = Buffer.alloc(bytes, 0);
  let best = Infinity;
  for (let i = 0; i < Math.max(3, itersFor(bytes)); i++) {
    const t0 = process.hrtime.bigint();
    src.copy(dst);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return bytes / best / 1e9;
}

async function runRanks(worldSize: number): Promise<{ mb: number; bytes: number; seconds: number }[]> {
  const port = await freePort();
  const children = Array.from({ length: worldSize }, (_v, rank) =>
    spawn(process.execPath, [...process.execArgv, process.argv[1]], {
      env: { ...process.env, BENCH_ROLE: 'rank', RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  let out = '';
  children[0].stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('close', r))));
  if (codes.some((c) => c !== 0)) throw new Error(`a rank failed: exit codes ${codes.join(', ')}`);
  return out.trim().split('\n').map((l) => JSON.parse(l) as { mb: number; bytes: number; seconds: number });
}

/** Sink process for the TCP reference: prints its port, reads until the sender closes, exits. */
async function sinkMain(): Promise<void> {
  const srv = createServer((socket) => {
    socket.on('data', () => undefined);
    socket.on('end', () => {
      socket.end();
      srv.close();
    });
  });
  srv.listen(0, '127.0.0.1', () => {
    const a = srv.address();
    process.stdout.write(`${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

/** Raw TCP loopback throughput (GB/s) from this process to a child process, 4 MB writes. */
async function tcpLoopbackGBps(bytes: number): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]], {
    env: { ...process.env, BENCH_ROLE: 'sink' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const chunk = Buffer.alloc(4 * MB, 1);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise<void>((resolve) => socket.once('drain', resolve));
  }
  socket.end();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return bytes / seconds / 1e9;
}

async function main(): Promise<void> {
  if (process.env.BENCH_ROLE === 'rank') return rankMain();
  if (process.env.BENCH_ROLE === 'sink') return sinkMain();
  const rows: string[] = [];
  const header = 'ranks  size     time/op    bus GB/s   memcpy GB/s   bus/memcpy';
  for (const n of envList('BENCH_RANKS', [2, 4])) {
    for (const r of await runRanks(n)) {
      const bus = ((2 * (n - 1)) / n) * r.bytes / r.seconds / 1e9;
      const mem = memcpyGBps(r.bytes);
      rows.push(
        `${String(n).padEnd(6)} ${`${r.mb} MB`.padEnd(8)} ${(r.seconds * 1e3).toFixed(2).padStart(8)} ms ` +
          `${bus.toFixed(2).padStart(9)}   ${mem.toFixed(2).padStart(11)}   ${(bus / mem).toFixed(3).padStart(10)}`,
      );
    }
  }
  const tcp = await tcpLoopbackGBps(256 * MB);
  process.stdout.write(
    `allreduce (sum, float32) over local ranks, Gloo TCP on loopback, vs Buffer.copy\n${header}\n${rows.join('\n')}\n` +
      `reference: raw TCP loopback between two Node processes, 256 MB: ${tcp.toFixed(2)} GB/s\n`,
  );
}

await main();
