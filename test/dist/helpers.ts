/** Spawning real rank processes on loopback for the distributed tests and the benchmark. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { latestValid } from '../../trainer/checkpoint/index.js';
import { freePort } from '../../trainer/collectives/free-port.js';

export { freePort };

/** node arguments that run a sibling script of `from`, in TypeScript (via tsx) or compiled JS, like `from` itself. */
export function scriptArgs(from: string, relativeTs: string): string[] {
  const isTs = from.endsWith('.ts');
  const target = fileURLToPath(new URL(isTs ? relativeTs : relativeTs.replace(/\.ts$/, '.js'), from));
  return isTs ? ['--import', 'tsx', target] : [target];
}

export interface RankResult {
  rank: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The JSON line the rank printed last, if any. */
  report: Record<string, unknown> | undefined;
  /** Every JSON line the rank printed on stdout (pino logs), in order. */
  stdoutLines: string[];
  stderr: string;
  /** From spawn to exit. */
  wallMs: number;
}

export interface RankProcess {
  child: ChildProcess;
  done: Promise<RankResult>;
  /** Resolves when `text` appears on the rank's stderr. */
  waitForStderr(text: string): Promise<void>;
}

export interface SpawnRankOptions {
  rank: number;
  env: Record<string, string>;
  args?: string[];
  /** Kill the process (SIGKILL) if it runs longer than this: a test must never hang. */
  killAfterMs: number;
}

export function spawnRank(script: string[], o: SpawnRankOptions): RankProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [...script, ...(o.args ?? [])], {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers.filter((x) => stderr.includes(x.text))) w.resolve();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
  const done = new Promise<RankResult>((resolve) => {
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
      const last = lines.at(-1);
      resolve({
        rank: o.rank,
        exitCode,
        signal,
        report: last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>),
        stdoutLines: lines,
        stderr,
        wallMs: Date.now() - started,
      });
    });
  });
  const waitForStderr = (text: string): Promise<void> =>
    new Promise((resolve) => (stderr.includes(text) ? resolve() : watchers.push({ text, resolve })));
  return { child, done, waitForStderr };
}

/** Env for rank `rank` of `worldSize` with rank 0 at 127.0.0.1:port. */
export function rankEnv(rank: number, worldSize: number, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    ...extra,
  };
}

/**
 * `worldSize` ranks of `script`, each with `args(rank)`, rank 0 on a fresh loopback port (one process gets no rank
 * env: it is a job alone); resolves when every rank has ended.
 */
export async function runRankProcesses(script: string[], worldSize: number, args: (rank: number) => string[], killAfterMs: number): Promise<RankResult[]> {
  const port = await freePort();
  return Promise.all(Array.from({ length: worldSize }, (_v, rank) =>
    spawnRank(script, { rank, env: worldSize === 1 ? {} : rankEnv(rank, worldSize, port), args: args(rank), killAfterMs }).done));
}

/** Largest |a - b| over same-named float tensors; both sides must hold the same names. */
export function tensorsApart(a: Readonly<Record<string, { data: unknown }>>, b: Readonly<Record<string, { data: unknown }>>): number {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let max = 0;
  for (const [name, t] of Object.entries(a)) {
    const x = t.data as Float32Array;
    const y = b[name]!.data as Float32Array;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  }
  return max;
}

/** Largest |a - b| over every tensor of the newest checkpoints in two folders (weights, buffers, optimizer state). */
export async function checkpointsApart(dirA: string, dirB: string): Promise<{ max: number; step: [number, number] }> {
  const [a, b] = await Promise.all([dirA, dirB].map((d) => latestValid(d)));
  assert.ok(a && b, `both runs wrote a checkpoint (${dirA}, ${dirB})`);
  return { max: Math.max(tensorsApart(a.weights, b.weights), tensorsApart(a.optimizer, b.optimizer)), step: [a.step, b.step] };
}
