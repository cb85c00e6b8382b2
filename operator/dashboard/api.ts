// The REST API as the page reads it (same origin, so the same credentials as the page itself), and a progress
// stream that reconnects and says when what is shown may be stale.

import type { JobSummary, PodState } from '../server/rest-shapes.js';

export type { JobSummary, PodState };

export interface HistoryPoint { step: number; loss: number; lr: number; imagesPerSecond?: number }
export interface EvalPoint { step: number; split: string; top1?: number; top5?: number; knnTop1?: number }
export interface History {
  stride: number;
  train: HistoryPoint[];
  evals: EvalPoint[];
  resumes: { step: number; time: string }[];
}

export interface Progress {
  epoch?: number;
  step?: number;
  totalSteps?: number;
  loss?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  lastCheckpoint?: string;
  updateTime?: string;
  knnTop1?: number;
  top1?: number;
  top5?: number;
  evalSplit?: string;
  history?: History;
}

export interface Condition { type: string; status: string; reason: string; message: string; lastTransitionTime: string }

export interface JobStatus {
  phase?: string;
  conditions?: Condition[];
  replicas?: { pending?: number; running?: number; succeeded?: number; failed?: number };
  restartCount?: number;
  startTime?: string;
  completionTime?: string;
  lastRestartTime?: string;
  progress?: Progress;
}

export interface EventSummary { type: string; reason: string; message: string; count: number; lastTimestamp: string }

export interface JobDetail extends JobSummary {
  spec: {
    image?: string;
    training?: Record<string, unknown>;
    checkpoint?: { claimName?: string };
    runPolicy?: Record<string, unknown>;
  };
  status: JobStatus;
  pods: PodState[];
  events: EventSummary[];
  /** false: the caller may not list pods in the namespace, so pods and events are left out. */
  podsVisible?: boolean;
  /** Rank 0's newest augmentation grids, when the operator has read them (.../preview/augmentation{1,2}.png). */
  preview?: { step: number; epoch: number };
}

export interface StreamEvent { phase: string; restartCount: number; progress: Progress }

/** An error response of the API, with its message (the page shows it as it is). */
export class ApiFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (!res.ok) throw new ApiFailure(res.status, body?.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

export const jobPath = (ns: string, name: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(ns)}/jobs/${encodeURIComponent(name)}`;

export interface StreamHandlers {
  onEvent(e: StreamEvent): void;
  /** live = false from a dropped connection until the next one delivers. */
  onLive(live: boolean, since: Date): void;
  /** The job is gone (deleted). */
  onDeleted(): void;
}

/**
 * Follows a job's server-sent progress events. EventSource reconnects by itself after a dropped connection, but
 * gives up on an error status (an operator restarting answers 503 until its caches sync), so a closed source is
 * reopened here with a growing delay. Ends for good when the job reaches Succeeded or Failed (the server then
 * closes the stream, which EventSource would otherwise reopen forever).
 */
export function followJob(ns: string, name: string, h: StreamHandlers): { stop(): void } {
  let source: EventSource | undefined;
  let timer: number | undefined;
  let delayMs = 1000;
  let stopped = false;
  let live = false;
  const setLive = (v: boolean): void => {
    if (v !== live) {
      live = v;
      h.onLive(v, new Date());
    }
  };
  const connect = (): void => {
    source = new EventSource(`${jobPath(ns, name)}/progress`);
    source.addEventListener('progress', (msg) => {
      delayMs = 1000;
      setLive(true);
      const e = JSON.parse((msg as MessageEvent<string>).data) as StreamEvent;
      h.onEvent(e);
      if (e.phase === 'Succeeded' || e.phase === 'Failed') stop();
    });
    source.addEventListener('deleted', () => {
      stop();
      h.onDeleted();
    });
    source.addEventListener('error', () => {
      if (stopped) return;
      setLive(false);
      if (source?.readyState === EventSource.CLOSED) {
        source.close();
        timer = window.setTimeout(connect, delayMs);
        delayMs = Math.min(30_000, delayMs * 2);
      }
    });
  };
  const stop = (): void => {
    stopped = true;
    source?.close();
    if (timer !== undefined) window.clearTimeout(timer);
  };
  h.onLive(false, new Date());
  connect();
  return { stop };
}
