// Reads rank 0's progress document (GET http://<pod IP>:<progressPort>/progress, schema from the trainer's
// contract) at most once per interval per job, and keeps the latest in memory for the next reconcile to copy into
// status. A poll never blocks a reconcile; a changed document re-queues the job.
import type { Logger } from 'pino';
import { ProgressDocument } from '../../trainer/contract/index.js';
import type { Progress } from '../api/schema.js';

export type FetchFn = (url: string, init: { signal: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface ProgressPollerOptions {
  intervalMs: number;
  timeoutMs: number;
}

/** The document counts epochs from 0 (epochs when finished); status shows the epoch in progress from 1, as
 * `kubectl get scj` users read it ("epoch 3 of 10"), and 0 before training starts. */
export function statusEpoch(doc: ProgressDocument): number {
  if (doc.phase === 'starting' || doc.phase === 'loading-data') return 0;
  if (doc.phase === 'finished') return doc.epochs;
  return Math.min(doc.epoch + 1, doc.epochs);
}

export function toStatusProgress(doc: ProgressDocument): Progress {
  const p: Progress = { epoch: statusEpoch(doc), step: doc.step, updateTime: doc.updatedAt };
  if (doc.loss !== null) p.loss = doc.loss;
  if (doc.imagesPerSecond !== null) p.imagesPerSecond = doc.imagesPerSecond;
  if (doc.etaSeconds !== null) p.etaSeconds = doc.etaSeconds;
  if (doc.lastCheckpoint !== null) p.lastCheckpoint = doc.lastCheckpoint.path;
  return p;
}

export class ProgressPoller {
  private readonly latest = new Map<string, { progress: Progress; updatedAt: string }>();
  private readonly lastPoll = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly opts: ProgressPollerOptions,
    private readonly onUpdate: (key: string) => void,
    private readonly log: Logger,
    private readonly fetchFn: FetchFn = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): Progress | undefined {
    return this.latest.get(key)?.progress;
  }

  /** Starts a poll of `url` for `key` unless one ran within the interval or is still running. */
  maybePoll(key: string, url: string): void {
    const last = this.lastPoll.get(key);
    if (this.inFlight.has(key) || (last !== undefined && this.now() - last < this.opts.intervalMs)) return;
    this.lastPoll.set(key, this.now());
    this.inFlight.add(key);
    void this.poll(key, url).finally(() => this.inFlight.delete(key));
  }

  forget(key: string): void {
    this.latest.delete(key);
    this.lastPoll.delete(key);
  }

  /** One poll; resolves whether or not it worked (failures are logged at debug: rank 0 may not serve yet). */
  async poll(key: string, url: string): Promise<void> {
    try {
      const res = await this.fetchFn(url, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = ProgressDocument.parse(await res.json());
      if (this.latest.get(key)?.updatedAt === doc.updatedAt) return;
      this.latest.set(key, { progress: toStatusProgress(doc), updatedAt: doc.updatedAt });
      this.onUpdate(key);
    } catch (err) {
      this.log.debug({ err, url, job: key }, 'progress poll failed');
    }
  }
}
