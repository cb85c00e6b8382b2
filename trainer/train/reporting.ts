// What a run reports while it trains: rank 0's progress document (served over HTTP for the operator, with the
// augmentation preview), TensorBoard scalars and images, the progress bar on a terminal, and the log lines of each
// step, epoch and evaluation. Other ranks keep a tracker and a silent bar, and write nothing.
import { join } from 'node:path';
import { PROGRESS_HISTORY_FILE, type CorruptCheckpoints, type EvalSplit, type TrainConfig } from '../contract/index.js';
import { augmentationGrids, type Normalization, type ViewsBatch } from '../data/index.js';
import {
  EventWriter,
  ProgressBar,
  ProgressTracker,
  StepScalars,
  startProgressServer,
  type Logger,
  type ProgressServer,
} from '../observe/index.js';
import type { EvalResult } from './evaluation/evaluate-model.js';

export interface ReportOptions {
  uid: string;
  config: TrainConfig;
  /** Rank 0: the only rank that serves progress and writes TensorBoard events. */
  leader: boolean;
  worldSize: number;
  stepsPerEpoch: number;
  checkpointDir: string;
  /** The global step the run starts from (after a resume). */
  startStep: number;
  corrupt: CorruptCheckpoints | undefined;
  /** Where the progress bar draws (a TTY only). */
  barStream: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  logger: Logger;
}

/** One epoch's training figures, as logged ('epoch done') and written to TensorBoard (train/*). */
export interface EpochStats {
  epoch: number;
  step: number;
  loss: number;
  classifierLoss: number;
  trainTop1: number;
  trainTop5: number;
  lr: number;
  imagesPerSecond: number;
  epochSeconds: number;
}

export class RunReport {
  private constructor(
    readonly tracker: ProgressTracker,
    private readonly server: ProgressServer | undefined,
    private readonly events: EventWriter | undefined,
    private readonly stepScalars: StepScalars,
    readonly bar: ProgressBar,
    private readonly o: ReportOptions,
  ) {}

  static async open(o: ReportOptions): Promise<RunReport> {
    const { uid, config, leader, logger } = o;
    const tracker = new ProgressTracker({
      uid,
      worldSize: o.worldSize,
      epochs: config.epochs,
      stepsPerEpoch: o.stepsPerEpoch,
      globalBatchSize: config.batchSize,
      // Kept beside the checkpoints only for a progress service's readers (the operator's dashboard).
      history: leader && config.progressPort > 0
        ? { file: join(o.checkpointDir, PROGRESS_HISTORY_FILE), startStep: o.startStep, onWarning: (m) => logger.warn(m) }
        : undefined,
    });
    if (o.corrupt !== undefined) tracker.recordCorruptCheckpoints(o.corrupt);
    let server: ProgressServer | undefined;
    if (leader && config.progressPort > 0) {
      server = await startProgressServer({ port: config.progressPort, getProgress: () => tracker.document(),
        getPreview: (view) => tracker.previewImage(view) });
      logger.info({ port: server.port }, 'serving progress');
    }
    const events = config.debugStep || !leader ? undefined : EventWriter.open(config.logDir, uid);
    const stepScalars = new StepScalars(events, config.logInterval);
    const bar = new ProgressBar(leader ? o.barStream : { write: () => true, isTTY: false });
    return new RunReport(tracker, server, events, stepScalars, bar, o);
  }

  /** Images/s of the step scalars count from here. */
  epochStarted(): void {
    this.stepScalars.startClock();
  }

  /** What the model sees this epoch, as the seed logs it: the first images of the batch, both views (rank 0). */
  async preview(batch: ViewsBatch, normalization: Normalization, at: { step: number; epoch: number }): Promise<void> {
    if (this.events === undefined) return;
    const grids = await augmentationGrids(batch, 16, normalization);
    this.events.addImage('augmentation1', grids.augmentation1, at.step);
    this.events.addImage('augmentation2', grids.augmentation2, at.step);
    this.tracker.recordPreview(grids, at);
  }

  /** A step done (`step` counts it); one the fp16 loss scale skipped (`applied` false) counts for the bar only. */
  step(s: { step: number; epoch: number; loss: number; ce: number; lr: number; applied: boolean }): void {
    const { config, stepsPerEpoch, logger } = this.o;
    if (s.applied) {
      this.tracker.recordStep({ step: s.step, epoch: s.epoch, loss: s.loss, lr: s.lr });
      this.stepScalars.record({ step: s.step, loss: s.loss, lr: s.lr, images: config.batchSize });
    }
    const doc = this.tracker.document();
    this.bar.update({
      label: `epoch ${s.epoch + 1}/${config.epochs}`,
      current: s.step - s.epoch * stepsPerEpoch,
      total: stepsPerEpoch,
      fields: {
        loss: s.loss.toFixed(4),
        lr: s.lr.toExponential(2),
        'img/s': doc.imagesPerSecond === null ? '?' : doc.imagesPerSecond.toFixed(0),
      },
      etaSeconds: doc.etaSeconds,
    });
    logger.debug({ step: s.step, loss: s.loss, ce: s.ce, lr: s.lr }, 'step');
  }

  /** An epoch's evaluation on `split`, with the epoch's training figures: progress, log line, TensorBoard scalars. */
  evaluated(train: EpochStats, split: EvalSplit, result: EvalResult, e: { bank: number; startedAt: number }): void {
    this.tracker.recordEval({ split, top1: result.top1, top5: result.top5, knnTop1: result.knnTop1 });
    this.o.logger.info(
      { epoch: train.epoch, split, ...result, knnBank: e.bank, evalSeconds: (performance.now() - e.startedAt) / 1000 },
      `evaluation on the ${split} set`,
    );
    this.events?.addScalars(
      {
        'train/loss': train.loss,
        'train/classifier_loss': train.classifierLoss,
        'train/top1': train.trainTop1,
        'train/top5': train.trainTop5,
        'train/lr': train.lr,
        'train/images_per_second': train.imagesPerSecond,
        [`${split}/knn_top1`]: result.knnTop1,
        [`${split}/top1`]: result.top1,
        [`${split}/top5`]: result.top5,
        ...(result.probeTop1 !== undefined ? { [`${split}/probe_top1`]: result.probeTop1 } : {}),
      },
      train.step,
    );
    this.events?.flush();
  }

  /** The bar ends, the event file closes, the progress server stops. */
  async close(): Promise<void> {
    this.bar.done();
    this.events?.close();
    await this.server?.close();
  }
}
