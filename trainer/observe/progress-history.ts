// Rank 0's curves since the job began, for dashboards: a bounded, downsampled history of training points (loss, lr,
// images/s), one point per evaluation, and where each resumed gang took over. Kept beside the checkpoints (written
// when one is), so a gang restarted after a failure continues the curves instead of starting them again.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  HISTORY_MAX_EVENTS,
  HISTORY_MAX_POINTS,
  ProgressHistory,
  type EvalPoint,
  type HistoryPoint,
} from '../contract/index.js';

export class HistoryRecorder {
  private h: ProgressHistory = { stride: 1, train: [], evals: [], resumes: [] };

  constructor(private readonly maxPoints = HISTORY_MAX_POINTS) {}

  /** A copy (callers serialise it while training goes on). */
  snapshot(): ProgressHistory {
    return structuredClone(this.h);
  }

  /** Keeps one point every `stride` steps; a full history drops every other point and doubles the stride. */
  addStep(p: HistoryPoint): void {
    if (p.step % this.h.stride !== 0) return;
    this.h.train.push(p);
    if (this.h.train.length > this.maxPoints) {
      this.h.stride *= 2;
      this.h.train = this.h.train.filter((x) => x.step % this.h.stride === 0);
    }
  }

  addEval(p: EvalPoint): void {
    this.h.evals.push(p);
    if (this.h.evals.length > HISTORY_MAX_EVENTS) this.h.evals.shift();
  }

  /**
   * Continues `earlier` (a previous gang's history) from checkpoint step `step`: what it recorded after that step
   * is redone by this gang, so it goes; a resume point marks where this gang took over.
   */
  resumeFrom(earlier: ProgressHistory, step: number, time: Date): void {
    this.h = {
      stride: earlier.stride,
      train: earlier.train.filter((p) => p.step <= step),
      evals: earlier.evals.filter((p) => p.step <= step),
      resumes: [...earlier.resumes.filter((r) => r.step <= step), { step, time: time.toISOString() }]
        .slice(-HISTORY_MAX_EVENTS),
    };
  }
}

/** The history in `file`; undefined when there is none; throws, naming the file, when it does not parse. */
export function readHistory(file: string): ProgressHistory | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: unreadable progress history`, { cause: err });
  }
  try {
    return ProgressHistory.parse(JSON.parse(text));
  } catch (err) {
    throw new Error(`${file}: invalid progress history (the curves start again here)`, { cause: err });
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeHistory(file: string, history: ProgressHistory): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(history));
  renameSync(tmp, file);
}
