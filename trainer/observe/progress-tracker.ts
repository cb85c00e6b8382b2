// Keeps rank 0's progress document current: throughput and loss over a sliding window of recent steps,
// ETA from that throughput. The HTTP server, the progress bar and the logs all read from it.
import {
  initialProgress,
  type CheckpointRef,
  type CorruptCheckpoints,
  type EvalSplit,
  type PreviewView,
  type ProgressDocument,
  type ProgressPhase,
} from '../contract/index.js';
import { HistoryRecorder, readHistory, writeHistory } from './progress-history.js';

/** The values an evaluation measured (null and undefined left out). */
function measured(values: Record<string, number | null | undefined>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

export interface HistoryOptions {
  /** Where the history is kept (beside the checkpoints); rewritten whenever a checkpoint is recorded. */
  file: string;
  /** The step this run resumed from (0: a fresh run, whose history starts empty). */
  startStep: number;
  onWarning?: (message: string) => void;
}

export interface ProgressTrackerOptions {
  uid: string;
  worldSize: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Images per step over all replicas. */
  globalBatchSize: number;
  /** Steps in the throughput/loss window. */
  window?: number;
  /** Milliseconds clock; injectable for tests. */
  now?: () => number;
  /** Keep the curves in a file (rank 0); without it they live only as long as the process. */
  history?: HistoryOptions;
}

interface StepSample {
  step: number;
  timeMs: number;
  loss: number;
}

export class ProgressTracker {
  private doc: ProgressDocument;
  private readonly recent: StepSample[] = [];
  private readonly window: number;
  private readonly now: () => number;
  private readonly history = new HistoryRecorder();
  private previewImages: Partial<Record<PreviewView, Uint8Array>> = {};

  constructor(private readonly opts: ProgressTrackerOptions) {
    this.window = opts.window ?? 20;
    this.now = opts.now ?? Date.now;
    this.doc = initialProgress({
      uid: opts.uid,
      worldSize: opts.worldSize,
      epochs: opts.epochs,
      totalSteps: opts.epochs * opts.stepsPerEpoch,
      now: new Date(this.now()),
    });
    if (opts.history !== undefined && opts.history.startStep > 0) this.resumeHistory(opts.history);
  }

  /** A snapshot with the history (a copy: callers may serialise it while training goes on). */
  document(): ProgressDocument {
    return { ...structuredClone(this.doc), history: this.history.snapshot() };
  }

  private resumeHistory(h: HistoryOptions): void {
    let earlier;
    try {
      earlier = readHistory(h.file);
    } catch (err) {
      h.onWarning?.((err as Error).message);
    }
    this.history.resumeFrom(earlier ?? { stride: 1, train: [], evals: [], resumes: [] }, h.startStep, new Date(this.now()));
  }

  setPhase(phase: ProgressPhase, message?: string): void {
    this.update({ phase, ...(message === undefined ? {} : { message }) });
  }

  /** Call when a step has completed; `step` counts completed steps (1 after the first). */
  recordStep(s: { step: number; epoch: number; loss: number; lr: number }): void {
    const timeMs = this.now();
    this.recent.push({ step: s.step, timeMs, loss: s.loss });
    if (this.recent.length > this.window + 1) this.recent.shift();
    const first = this.recent[0];
    const seconds = (timeMs - first.timeMs) / 1000;
    const steps = s.step - first.step;
    const stepsPerSecond = seconds > 0 && steps > 0 ? steps / seconds : null;
    const finiteLosses = this.recent.map((r) => r.loss).filter(Number.isFinite);
    this.update({
      phase: 'training',
      step: s.step,
      epoch: s.epoch,
      lr: s.lr,
      loss: finiteLosses.length > 0 ? finiteLosses.reduce((a, b) => a + b, 0) / finiteLosses.length : null,
      imagesPerSecond: stepsPerSecond === null ? null : stepsPerSecond * this.opts.globalBatchSize,
      etaSeconds: stepsPerSecond === null ? null : Math.max(0, this.doc.totalSteps - s.step) / stepsPerSecond,
    });
    const { loss, imagesPerSecond } = this.doc;
    if (loss !== null) {
      this.history.addStep({ step: s.step, loss, lr: s.lr, ...(imagesPerSecond === null ? {} : { imagesPerSecond }) });
    }
  }

  recordEval(r: { split?: EvalSplit; top1?: number | null; top5?: number | null; knnTop1?: number | null }): void {
    this.update({
      evalSplit: r.split ?? this.doc.evalSplit,
      top1: r.top1 ?? this.doc.top1,
      top5: r.top5 ?? this.doc.top5,
      knnTop1: r.knnTop1 ?? this.doc.knnTop1,
    });
    this.history.addEval({
      step: this.doc.step,
      split: r.split ?? this.doc.evalSplit ?? 'test',
      ...measured({ top1: r.top1, top5: r.top5, knnTop1: r.knnTop1 }),
    });
    this.persistHistory(); // the epoch's checkpoint came before its evaluation, and a resume does not redo it
  }

  /** The augmentation grids (PNG) of the first batch of an epoch, for the progress service's readers. */
  recordPreview(images: Record<PreviewView, { png: Uint8Array }>, at: { step: number; epoch: number }): void {
    this.previewImages = { augmentation1: images.augmentation1.png, augmentation2: images.augmentation2.png };
    this.update({ preview: { step: at.step, epoch: at.epoch } });
  }

  previewImage(view: PreviewView): Uint8Array | undefined {
    return this.previewImages[view];
  }

  /** What this run's resume found corrupt: the operator turns it into a condition and a Warning event. */
  recordCorruptCheckpoints(report: CorruptCheckpoints): void {
    this.update({ corruptCheckpoints: report });
  }

  recordCheckpoint(ref: CheckpointRef): void {
    this.update({ lastCheckpoint: ref });
    this.persistHistory();
  }

  /** Writes the history beside the checkpoints, so a gang resuming from one continues the curves. */
  private persistHistory(): void {
    const h = this.opts.history;
    if (h === undefined) return;
    try {
      writeHistory(h.file, this.history.snapshot());
    } catch (err) {
      h.onWarning?.(`${h.file}: progress history not written (${(err as Error).message})`);
    }
  }

  private update(fields: Partial<ProgressDocument>): void {
    this.doc = { ...this.doc, ...fields, updatedAt: new Date(this.now()).toISOString() };
  }
}
