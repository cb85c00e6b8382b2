// A pool of worker threads that decode and augment a batch's rows in parallel with the training step.
// Rows are split into contiguous blocks, one per worker; each row's views depend only on (seed, epoch,
// position), so the batch is bit-identical for any number of workers. Idle workers are unref'd: a pool
// left open never keeps the process alive, and close() ends them.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataError } from './errors.js';
import type { PoolJob, PoolReply, WorkerInit } from './pool-protocol.js';

/**
 * The compiled worker next to this file. From sources (under tsx) the TypeScript one, through a small
 * bootstrap that registers tsx in the worker first (loader hooks are not inherited by worker threads).
 */
function workerSource(): { source: string | URL; eval: boolean } {
  const js = new URL('./augment-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { source: js, eval: false };
  const ts = new URL('./augment-worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return { source: `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(ts)}); });`, eval: true };
}

interface Pending {
  resolve: (labels: Int32Array) => void;
  reject: (err: Error) => void;
}

export class AugmentPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    count: number,
    init: WorkerInit,
    private readonly onWarning: (message: string) => void,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`worker count ${count}: use a positive integer`);
    this.workers = Array.from({ length: count }, (_v, k) => this.start(k, init));
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Fills rows 0..indices.length-1 of the two shared batch arrays; resolves with each row's label.
   * Shapes: view1, view2 [B, C, H, W] float32 over SharedArrayBuffers; indices [B].
   */
  async fill(epoch: number, firstPosition: number, indices: Int32Array, view1: SharedArrayBuffer, view2: SharedArrayBuffer): Promise<Int32Array> {
    if (this.failure !== undefined) throw this.failure;
    const b = indices.length;
    const n = this.workers.length;
    const parts: Promise<Int32Array>[] = [];
    const rowsOf: Int32Array[] = [];
    for (let k = 0; k < n; k++) {
      const start = Math.floor((k * b) / n);
      const end = Math.floor(((k + 1) * b) / n);
      if (end === start) continue;
      const rows = Int32Array.from({ length: end - start }, (_v, r) => start + r);
      rowsOf.push(rows);
      parts.push(this.send(k, { id: 0, epoch, firstPosition, rows, indices: indices.slice(start, end), view1, view2 }));
    }
    const labels = new Int32Array(b);
    (await Promise.all(parts)).forEach((part, p) => part.forEach((label, r) => (labels[rowsOf[p][r]] = label)));
    return labels;
  }

  async close(): Promise<void> {
    this.failWith(new Error('the loader was closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private start(k: number, init: WorkerInit): Worker {
    const entry = workerSource();
    const worker = new Worker(entry.source, { workerData: init, name: `augment-${k}`, eval: entry.eval });
    worker.unref();
    worker.on('message', (reply: PoolReply) => this.onReply(reply));
    worker.on('error', (err) => this.failWith(new Error(`augment worker ${k} failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (this.failure === undefined) this.failWith(new Error(`augment worker ${k} exited (code ${code})`));
    });
    return worker;
  }

  private send(k: number, job: PoolJob): Promise<Int32Array> {
    const id = this.nextId++;
    return new Promise<Int32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRefs();
      this.workers[k].postMessage({ ...job, id });
    });
  }

  private onReply(reply: PoolReply): void {
    if (reply.warning !== undefined) this.onWarning(reply.warning);
    if (reply.id === undefined) return;
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    this.updateRefs();
    if (reply.error !== undefined) p.reject(reply.dataError === true ? new DataError(reply.error) : new Error(reply.error));
    else p.resolve(reply.labels ?? new Int32Array(0));
  }

  private failWith(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.updateRefs();
  }

  /** Keep the process alive only while a job is in flight. */
  private updateRefs(): void {
    const busy = this.pending.size > 0;
    for (const w of this.workers) {
      if (busy) w.ref();
      else w.unref();
    }
  }
}
