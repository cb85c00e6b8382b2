// The SimCLRJob operator on a real kube-apiserver (test/controlplane/harness.ts), as a separate child process
// (operator/main.ts), measured against references taken in the same run (the machine is shared and noisy):
//
//  1. apply -> all pods created, 64-rank job. Reference: the same client creating 64 equivalent pods (desiredPod of
//     the same spec) straight through the apiserver, 16 in flight like reconcile/apply.ts: the floor the operator
//     could reach. Both are timed to the 64th ADDED event of one pod watch. Alternating rounds, medians.
//  2. steady-state memory with 1,000 SimCLRJobs: VmRSS (/proc/<pid>/status) of the operator process idle with 0 jobs
//     vs after 1,000 jobs reached a steady state and the work queue drained. The jobs are suspended
//     (runPolicy.suspend: true) so the apiserver is not flooded with 64,000 pods: the operator caches, validates and
//     reconciles each job (status write + event), but creates no pods or Services for them.
//  3. reconcile throughput: jobs/s from the first create until every job is Suspended in the operator's cache
//     (and its queue is empty), against the rate at which the same client created the jobs.
//
//   npx tsx bench/operator.ts [--jobs 1000] [--replicas 64] [--rounds 4] [--entry tsx|dist]
//
// Needs the binaries of test/controlplane/build.sh. Runs in ~2 minutes on 2 cores.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, parseSimCLRJob } from '../operator/api/schema.js';
import { desiredPods } from '../operator/reconcile/desired.js';
import { startControlPlane, type ControlPlane } from '../test/controlplane/harness.js';
import { Cluster, createNamespace, eventually, installCrd, kubeConfig } from '../test/operator/helpers.js';
import { freePort } from '../trainer/collectives/free-port.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    replicas: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '4' },
    // tsx: node --import tsx operator/main.ts (the sources as they are; the loader adds ~70 MB of RSS).
    // dist: node dist/operator/main.js, as the image runs it (build first: npx tsc -p .).
    entry: { type: 'string', default: 'tsx' },
  },
});
const JOBS = Number(args.jobs);
const REPLICAS = Number(args.replicas);
const ROUNDS = Number(args.rounds);
if (args.entry !== 'tsx' && args.entry !== 'dist') throw new Error('--entry must be tsx or dist');
const ENTRY = args.entry;
const IMAGE = 'simclr-trainer:bench';
const CLK_TCK = 100; // Linux USER_HZ
// The repository root: one folder up from bench/ under tsx, two from dist/bench/ after tsc.
const HERE = new URL('..', import.meta.url).pathname;
const ROOT = existsSync(join(HERE, 'package.json')) ? HERE : join(HERE, '..');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const log = (msg: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};


async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------------------
// The operator as a child process (node --import tsx operator/main.ts, or node dist/operator/main.js), so child.pid
// is the operator itself.

interface OperatorProc {
  child: ChildProcess;
  pid: number;
  port: number;
  logPath: string;
  metrics(): Promise<Map<string, number>>;
  rssMB(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const liveOperators = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveOperators) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of liveOperators) c.kill('SIGKILL');
    process.exit(130);
  });
}

async function startOperatorProcess(cp: ControlPlane, namespace: string, logDir: string): Promise<OperatorProc> {
  const port = await freePort();
  const logPath = join(logDir, `operator-${namespace}.log`);
  const out = createWriteStream(logPath);
  const entry = ENTRY === 'dist' ? [join(ROOT, 'dist/operator/main.js')] : ['--import', 'tsx', join(ROOT, 'operator/main.ts')];
  const child = spawn(process.execPath, [...entry,
    `--kubeconfig=${cp.kubeconfigPath}`, `--namespace=${namespace}`, `--listen=127.0.0.1:${port}`, '--auth=none',
    '--leader-elect=false', '--log-level=warn'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  liveOperators.add(child);
  const exited = new Promise<void>((r) => child.on('exit', () => {
    liveOperators.delete(child);
    out.end();
    r();
  }));
  const pid = child.pid!;
  const base = `http://127.0.0.1:${port}`;
  const proc: OperatorProc = {
    child, pid, port, logPath,
    async metrics() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const m = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || line === '') continue;
        const i = line.lastIndexOf(' ');
        m.set(line.slice(0, i), Number(line.slice(i + 1)));
      }
      return m;
    },
    rssMB() {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return Number(kb) / 1024;
    },
    cpuSeconds() {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
      return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime (14), stime (15)
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  try {
    await eventually('operator /readyz', async () => {
      if (child.exitCode !== null) throw new Error(`operator exited ${child.exitCode}: ${readFileSync(logPath, 'utf8')}`);
      const r = await fetch(`${base}/readyz`).catch(() => undefined);
      return r?.ok ? true : undefined;
    }, 60_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

// ---------------------------------------------------------------------------------------------------------------
// Observation: one pod watch per namespace, resolving when `n` pods with a job label were ADDED.

async function podWatcher(kc: KubeConfig, namespace: string, jobName: string, n: number):
  Promise<{ done: Promise<number>; abort(): void }> {
  const seen = new Set<string>();
  let resolve!: (t: number) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const ac = await new Watch(kc).watch(`/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: `simclr.dev/job-name=${jobName}`, allowWatchBookmarks: false },
    (phase: string, obj: V1Pod) => {
      if (phase !== 'ADDED') return;
      seen.add(obj.metadata?.name ?? '');
      if (seen.size === n) resolve(performance.now());
    },
    (err: unknown) => {
      if (seen.size < n) reject(err ?? new Error('watch closed early'));
    });
  return { done, abort: () => ac.abort() };
}

const gangSpec = (replicas: number, suspend = false): Record<string, unknown> => ({
  image: IMAGE, replicas, training: { batchSize: 4 * replicas },
  resources: { gpu: 1, cpu: '4', memory: '16Gi', shmSize: '2Gi' },
  ...(suspend ? { runPolicy: { suspend: true } } : {}),
});

/** Reference: the bench's client creates the 64 pods the operator would create for the same spec (CR made first). */
async function referenceRound(k: Cluster, kc: KubeConfig, ns: string, name: string): Promise<number> {
  await k.createJob(ns, name, gangSpec(REPLICAS));
  const job = parseSimCLRJob(await k.getJob(ns, name));
  const pods = desiredPods(job, 0);
  const w = await podWatcher(kc, ns, name, REPLICAS);
  try {
    const t0 = performance.now();
    await forEachLimited(pods, 16, async (pod) => {
      await k.core.createNamespacedPod({ namespace: ns, body: pod });
    });
    return (await w.done) - t0;
  } finally {
    w.abort();
  }
}

/** Operator: apply the SimCLRJob, time to the 64th pod ADDED. */
async function operatorRound(k: Cluster, kc: KubeConfig, ns: string, name: string): Promise<number> {
  const w = await podWatcher(kc, ns, name, REPLICAS);
  let timer: NodeJS.Timeout | undefined;
  try {
    const t0 = performance.now();
    await k.createJob(ns, name, gangSpec(REPLICAS));
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${name}: no ${REPLICAS} pods in 60 s`)), 60_000);
    });
    const t = await Promise.race([w.done, timeout]);
    return t - t0;
  } finally {
    clearTimeout(timer);
    w.abort();
  }
}

async function rssSamples(op: OperatorProc, n: number, everyMs: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(op.rssMB());
    await sleep(everyMs);
  }
  return median(xs);
}

async function main(): Promise<void> {
  const started = Date.now();
  const load0 = loadavg();
  const logDir = mkdtempSync(join(tmpdir(), 'simclr-bench-op-'));
  let cp: ControlPlane | undefined;
  let op: OperatorProc | undefined;
  let ok = false;
  try {
    log('starting etcd + kube-apiserver');
    cp = await startControlPlane({});
    const kc = kubeConfig(cp);
    const k = new Cluster(cp, kc);
    await installCrd(cp);
    for (const ns of ['ref', 'lat', 'mem']) await createNamespace(cp, ns);

    // ---- 1. apply -> 64 pods -----------------------------------------------------------------------------------
    log(`phase 1: apply -> ${REPLICAS} pods, operator watching namespace lat; reference pods in ref (unwatched)`);
    op = await startOperatorProcess(cp, 'lat', logDir);
    await sleep(2000);
    // Warm-up round of each (admission, CEL and client connection caches), not counted.
    await referenceRound(k, kc, 'ref', 'warm');
    await operatorRound(k, kc, 'lat', 'warm');
    const ref: number[] = [];
    const opr: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      ref.push(await referenceRound(k, kc, 'ref', `g${i}`));
      opr.push(await operatorRound(k, kc, 'lat', `g${i}`));
      log(`  round ${i}: reference ${ref.at(-1)!.toFixed(0)} ms, operator ${opr.at(-1)!.toFixed(0)} ms`);
    }
    await op.stop();
    op = undefined;

    // ---- 2+3. memory and throughput with JOBS suspended jobs ---------------------------------------------------
    log(`phase 2: ${JOBS} suspended jobs, operator watching namespace mem`);
    op = await startOperatorProcess(cp, 'mem', logDir);
    await sleep(5000);
    const idleRss = await rssSamples(op, 10, 300);
    const idleHeap = (await op.metrics()).get('nodejs_heap_size_used_bytes')! / 2 ** 20;
    log(`  idle: RSS ${idleRss.toFixed(1)} MB, heap used ${idleHeap.toFixed(1)} MB`);
    const cpu0 = op.cpuSeconds();
    const names = Array.from({ length: JOBS }, (_, i) => `job-${String(i).padStart(4, '0')}`);
    const t0 = performance.now();
    let createdAt = 0;
    const creating = forEachLimited(names, 16, (n) => k.createJob('mem', n, gangSpec(REPLICAS, true)))
      .then(() => {
        createdAt = performance.now();
      });
    let steadyAt = 0;
    const operator = op;
    await eventually(`${JOBS} jobs Suspended in the operator's cache`, async () => {
      const m = await operator.metrics();
      const suspended = m.get('simclr_jobs{phase="Suspended"}') ?? 0;
      const depth = m.get('simclr_workqueue_depth') ?? -1;
      if (suspended === JOBS && depth === 0) {
        steadyAt = performance.now();
        return true;
      }
      await sleep(150);
      return undefined;
    }, 240_000);
    await creating;
    const cpuUsed = op.cpuSeconds() - cpu0;
    // Cross-check against the apiserver, not only the operator's cache.
    const list = await cp.request('GET', `/apis/${GROUP}/${VERSION}/namespaces/mem/${PLURAL}`);
    const stored = (list.body.items as Array<{ status?: { phase?: string } }>);
    const storedSuspended = stored.filter((j) => j.status?.phase === 'Suspended').length;
    if (storedSuspended !== JOBS) throw new Error(`apiserver has ${storedSuspended}/${stored.length} Suspended`);
    log(`  all ${JOBS} Suspended after ${((steadyAt - t0) / 1000).toFixed(1)} s (creates done at ${((createdAt - t0) / 1000).toFixed(1)} s)`);
    await sleep(10_000); // steady state: no work; let the heap settle
    const busyRss = await rssSamples(op, 20, 300);
    const m = await op.metrics();
    const busyHeap = m.get('nodejs_heap_size_used_bytes')! / 2 ** 20;
    const reconciles = [...m].filter(([k]) => k.startsWith('simclr_reconcile_duration_seconds_count'))
      .reduce((s, [, v]) => s + v, 0);
    const podsCreated = m.get('simclr_pods_created_total') ?? 0;
    await op.stop();
    op = undefined;

    // ---- report ------------------------------------------------------------------------------------------------
    const refMs = median(ref);
    const opMs = median(opr);
    const throughput = JOBS / ((steadyAt - t0) / 1000);
    const createRate = JOBS / ((createdAt - t0) / 1000);
    const rows: Array<[string, string, string, string]> = [
      ['measure', 'operator', 'reference', 'ratio'],
      [`apply -> ${REPLICAS} pods created (median of ${ROUNDS})`, `${opMs.toFixed(0)} ms`,
        `${refMs.toFixed(0)} ms (client creates ${REPLICAS} pods directly)`, `${(opMs / refMs).toFixed(2)}x`],
      [`operator RSS, ${JOBS} suspended jobs`, `${busyRss.toFixed(1)} MB`, `${idleRss.toFixed(1)} MB (0 jobs, idle)`,
        `${(busyRss / idleRss).toFixed(2)}x, +${(busyRss - idleRss).toFixed(1)} MB = ${((busyRss - idleRss) * 1024 / JOBS).toFixed(1)} KB/job`],
      [`operator heap used, ${JOBS} jobs`, `${busyHeap.toFixed(1)} MB`, `${idleHeap.toFixed(1)} MB (0 jobs)`,
        `+${((busyHeap - idleHeap) * 1024 / JOBS).toFixed(1)} KB/job`],
      [`reconcile throughput to steady state`, `${throughput.toFixed(0)} jobs/s`,
        `${createRate.toFixed(0)} jobs/s (client create rate)`, `${(throughput / createRate).toFixed(2)}x`],
      [`operator CPU to reconcile ${JOBS} jobs`, `${cpuUsed.toFixed(1)} s (${(cpuUsed * 1000 / JOBS).toFixed(1)} ms/job)`,
        `${reconciles} reconciles, ${podsCreated} pods`, ''],
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    const fmt = (r: string[]): string => `| ${r.map((x, c) => x.padEnd(widths[c]!)).join(' | ')} |`;
    const out = [
      `SimCLRJob operator bench (operator entry: ${ENTRY}), ${new Date().toISOString()}, load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, ` +
        `at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `rounds (ms): reference ${ref.map((x) => x.toFixed(0)).join(' ')} | operator ${opr.map((x) => x.toFixed(0)).join(' ')}`,
      fmt(rows[0]!),
      `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
      ...rows.slice(1).map(fmt),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    ok = true;
  } finally {
    await op?.stop();
    await cp?.stop();
    if (ok) rmSync(logDir, { recursive: true, force: true });
    else log(`operator logs kept in ${logDir}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/operator: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
