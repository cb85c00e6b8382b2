// Reads rank 0's progress document (GET http://<pod IP>:<progressPort>/progress, schema from the trainer's
// contract) at most once per interval per job, and keeps the latest in memory for the next reconcile to copy into
// status. A poll never blocks a reconcile; a changed document re-queues the job.
import type { Logger } from 'pino';
import {
  PREVIEW_PATH,
  PREVIEW_VIEWS,
  PROGRESS_PATH,
  ProgressDocument,
  type CorruptCheckpoints,
  type PreviewView,
} from '../../trainer/contract/index.js';
import type { Progress } from '../api/schema.js';
import { toStatusProgress } from '../reconcile/progress-status.js';

export type FetchFn = (url: string, init: { signal: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>;
  arrayBuffer?(): Promise<ArrayBuffer> }>;

/** Rank 0's newest augmentation grids (PNG), kept in memory only: they are a glance, not a record. */
export interface Preview {
  step: number;
  epoch: number;
  images: Record<PreviewView, Buffer>;
}

export interface ProgressPollerOptions {
  intervalMs: number;
  timeoutMs: number;
}

export { statusEpoch, toStatusProgress } from '../reconcile/progress-status.js';

export class ProgressPoller {
  private readonly latest = new Map<string, { progress: Progress; updatedAt: string; corrupt?: CorruptCheckpoints }>();
  private readonly lastPoll = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly previews = new Map<string, Preview>();

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

  /** What rank 0's resume found corrupt, when its latest document says so. */
  corruptCheckpoints(key: string): CorruptCheckpoints | undefined {
    return this.latest.get(key)?.corrupt;
  }

  preview(key: string): Preview | undefined {
    return this.previews.get(key);
  }

  /**
   * Starts a poll of `url` for `key` unless one ran within the interval; resolves when the running (or started) poll
   * ends, at once when none is due.
   */
  maybePoll(key: string, url: string): Promise<void> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    const last = this.lastPoll.get(key);
    if (last !== undefined && this.now() - last < this.opts.intervalMs) return Promise.resolve();
    this.lastPoll.set(key, this.now());
    const polling = this.poll(key, url).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, polling);
    return polling;
  }

  forget(key: string): void {
    this.latest.delete(key);
    this.previews.delete(key);
    this.lastPoll.delete(key);
  }

  /** One poll; resolves whether or not it worked (failures are logged at debug: rank 0 may not serve yet). */
  async poll(key: string, url: string): Promise<void> {
    try {
      const res = await this.fetchFn(url, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = ProgressDocument.parse(await res.json());
      if (this.latest.get(key)?.updatedAt === doc.updatedAt) return;
      if (doc.preview !== undefined && this.previews.get(key)?.step !== doc.preview.step) {
        await this.fetchPreview(key, url, doc.preview).catch((err: unknown) =>
          this.log.debug({ err, url, job: key }, 'preview not fetched; the next document tries again'));
      }
      this.latest.set(key, { progress: toStatusProgress(doc), updatedAt: doc.updatedAt, corrupt: doc.corruptCheckpoints });
      this.onUpdate(key);
    } catch (err) {
      this.log.debug({ err, url, job: key }, 'progress poll failed');
    }
  }

  /** The grids the document announces, from beside its path; a failure keeps the previous ones. */
  private async fetchPreview(key: string, progressUrl: string, at: { step: number; epoch: number }): Promise<void> {
    const base = progressUrl.endsWith(PROGRESS_PATH) ? progressUrl.slice(0, -PROGRESS_PATH.length) : progressUrl;
    const images: Partial<Record<PreviewView, Buffer>> = {};
    for (const view of PREVIEW_VIEWS) {
      const res = await this.fetchFn(`${base}${PREVIEW_PATH}/${view}.png`, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!res.ok || res.arrayBuffer === undefined) throw new Error(`preview ${view}: HTTP ${res.status}`);
      images[view] = Buffer.from(await res.arrayBuffer());
    }
    this.previews.set(key, { ...at, images: images as Record<PreviewView, Buffer> });
  }
}
