// The epoch loop: steps (data -> step -> update, the Polyak average, checkpoints every --checkpoint-every), each
// epoch's evaluation and --early-stop's verdict, and the end of a run: the best checkpoint's final evaluation and the
// exported encoder. A run also ends within an epoch: a planned stop (SIGTERM), --debug-step, or the step limit.
// Everything it drives is built by the loop (loop.ts) before the first step.
import type { EvalSplit, ProgressDocument, TrainConfig } from '../contract/index.js';
import type { ProcessGroup } from '../collectives/index.js';
import type { ContrastiveLoader, Dataset } from '../data/index.js';
import { copyToHost, type Engine, type ParameterStore } from '../engine/index.js';
import type { ModelConfig } from '../models/index.js';
import type { Logger } from '../observe/index.js';
import type { LrSchedule } from '../optim/index.js';
import type { Checkpoints } from './checkpointing.js';
import type { EarlyStopper, Verdict } from './early-stop.js';
import { evaluateModel, type EvalResult } from './evaluation/evaluate-model.js';
import { EvalForward } from './evaluation/features.js';
import { applyScaled, type DynamicLossScale } from './loss-scale.js';
import type { PlannedStop } from './planned-stop.js';
import type { PolyakAverage } from './polyak-ema.js';
import type { EpochStats, RunReport } from './reporting.js';
import type { InputContract } from './run-setup.js';
import type { Stepper } from './stepper.js';
import type { Update } from './update.js';

export interface TrainResult {
  uid: string;
  /** The data set trained on (--dataset auto resolved). */
  dataset: string;
  step: number;
  epoch: number;
  checkpointDir: string;
  lastLoss: number;
  eval?: EvalResult;
  store: ParameterStore;
  /** --polyak-ema: the averaged weights, which evaluation and export used. */
  average?: ParameterStore;
  /** --early-stop: the best checkpoint's step (what was exported and finally evaluated), and whether it stopped early. */
  earlyStop?: { bestStep: number; stopped: boolean };
  /** Stopped on request (io.stopSignal) before the end, after writing the checkpoint of `step`. */
  stopped?: boolean;
  /** Rank 0's final progress document, when the run ended normally. */
  progress?: ProgressDocument;
}

/** What the epoch loop drives, built before the first step. */
export interface EpochRun {
  uid: string;
  config: TrainConfig;
  group: ProcessGroup;
  /** Rank 0: the only rank that writes (checkpoints, TensorBoard, progress); every rank computes the same updates. */
  leader: boolean;
  logger: Logger;
  engine: Engine;
  loader: ContrastiveLoader;
  stepsPerEpoch: number;
  step: Stepper;
  store: ParameterStore;
  schedule: LrSchedule;
  lossScale: DynamicLossScale | undefined;
  update: Update;
  average: PolyakAverage | undefined;
  stopper: EarlyStopper | undefined;
  plannedStop: PlannedStop;
  checkpoints: Checkpoints;
  report: RunReport;
  contract: InputContract;
  model: ModelConfig;
  trainSet: Dataset;
  validSet: Dataset | undefined;
  testSet: Dataset;
  checkpointDir: string;
  /** The global step the run starts from (after a resume). */
  startStep: number;
  /** Rows of the train set used as the kNN bank after intermediate epochs (the final epoch uses all). */
  intermediateKnnBank: number | undefined;
  /** Stop (after checkpointing) once this many global steps are done, as a preempted run would. */
  stopAfterStep: number | undefined;
}

/** The process's peak resident memory so far, in MiB (what bounds the batch a machine can train). */
function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Rank 0's verdict on every rank (undefined when rank 0 has none). */
async function agreedVerdict(group: ProcessGroup, verdict: Verdict | undefined): Promise<Verdict | undefined> {
  if (group.worldSize === 1) return verdict;
  const v = verdict ?? { bestStep: 0, bestKnnTop1: 0, sinceBest: 0, stop: false };
  // Integers: a top-1 fraction in units of 1e-9 fits an int32.
  const agreed = await group.broadcast(Int32Array.of(verdict === undefined ? 0 : 1, v.stop ? 1 : 0, v.bestStep, Math.round(v.bestKnnTop1 * 1e9), v.sinceBest));
  return agreed[0] === 0 ? undefined : { stop: agreed[1] === 1, bestStep: agreed[2], bestKnnTop1: agreed[3] / 1e9, sinceBest: agreed[4] };
}

export class EpochLoop {
  private globalStep: number;
  private lastLoss = NaN;
  private evalResult: EvalResult | undefined;
  private epochsDone: number;
  private verdict: Verdict | undefined;
  private forward: EvalForward | undefined;
  // --early-stop's protocol: the same bank and split every epoch (valid/ when there is one).
  private readonly monitorBank: number;
  private readonly monitorSet: Dataset;

  constructor(private readonly r: EpochRun) {
    this.globalStep = r.startStep;
    this.epochsDone = Math.floor(r.startStep / r.stepsPerEpoch);
    this.monitorBank = Math.min(r.trainSet.length, r.intermediateKnnBank ?? 10000);
    this.monitorSet = r.validSet ?? r.testSet;
  }

  /** Every epoch from the one the run starts in, then the end of the run. */
  async run(): Promise<TrainResult> {
    const { config, group, leader, logger, stepsPerEpoch, stopper } = this.r;
    // A run that had already stopped early (rank 0's history says so at the step it resumed from) trains no further.
    const stoppedBefore = stopper === undefined ? undefined : await agreedVerdict(group, leader ? stopper.resumedVerdict(this.globalStep) : undefined);
    if (stoppedBefore?.stop === true) {
      this.verdict = stoppedBefore;
      logger.info({ bestStep: this.verdict.bestStep }, 'early stop: this run had already stopped; finishing with its best checkpoint');
    }
    for (let epoch = Math.floor(this.globalStep / stepsPerEpoch); epoch < config.epochs && this.verdict?.stop !== true; epoch++) {
      const trained = await this.trainEpoch(epoch);
      if ('ended' in trained) return trained.ended;
      if (await this.evaluateEpoch(epoch, trained.stats)) break;
    }
    return this.finish();
  }

  /** One epoch's steps (from where a resumed run left it): its figures, or the run's result when it ended within. */
  private async trainEpoch(epoch: number): Promise<{ stats: EpochStats } | { ended: TrainResult }> {
    const { config, leader, logger, engine, loader, stepsPerEpoch, step, store, schedule, lossScale, update, average, plannedStop,
      checkpoints, report, trainSet, checkpointDir } = this.r;
    const { bar, tracker } = report;
    const startStep = this.globalStep - epoch * stepsPerEpoch;
    let lossSum = 0;
    let ceSum = 0;
    let correct1 = 0;
    let correct5 = 0;
    let seen = 0;
    let steps = 0;
    let skipped = 0; // fp16 steps that overflowed: they count for images/s, not for the loss and accuracy
    const t0 = performance.now();
    report.epochStarted();
    for await (const batch of loader.epoch(epoch, startStep)) {
      if (await plannedStop.agreed()) {
        bar.done();
        await checkpoints.save(this.globalStep);
        await update.toHost(store);
        logger.info({ step: this.globalStep, checkpointStep: leader ? checkpoints.lastSaved : undefined }, 'stopped on request');
        return { ended: { uid: this.r.uid, dataset: config.dataset, step: this.globalStep, epoch, checkpointDir, lastLoss: this.lastLoss, store, stopped: true } };
      }
      if (steps === 0) await report.preview(batch, trainSet.normalization, { step: this.globalStep, epoch });
      const lr = schedule.at(this.globalStep);
      await update.toDevice(store);
      const r = await step.run(batch, store, lossScale?.scale);
      if (!Number.isFinite(r.loss) && lossScale === undefined) throw new Error(`loss is ${r.loss} at step ${this.globalStep}: lower --lr or set --clip`);
      const { norm, applied } = lossScale === undefined
        ? { norm: await update.run(store, r.outputs, lr), applied: true }
        : await applyScaled(update, lossScale, store, r.outputs, lr, this.globalStep);
      if (!applied) {
        skipped++;
        logger.warn({ step: this.globalStep, lossScale: lossScale?.scale }, 'fp16 overflow: step skipped, loss scale halved');
      }
      if (average !== undefined && applied) {
        // On a GPU provider a copy of the weights and statistics comes to the host; the state stays on the device.
        const live = update.placement === 'host' ? undefined : await copyToHost(engine, store, average.names());
        average.update((name) => live?.get(name) ?? store.require(name).data);
      }
      if (config.clip > 0 && !Number.isFinite(norm) && applied) {
        // (the host update throws this itself, before changing anything)
        throw new Error(`clip: gradient norm is ${norm} at step ${this.globalStep}; the step has non-finite gradients (nothing was updated)`);
      }
      this.globalStep++;
      steps++;
      if (applied) {
        lossSum += r.nce;
        ceSum += r.ce;
        this.lastLoss = r.nce;
        correct1 += r.correct1;
        correct5 += r.correct5;
        seen += batch.labels.length;
      }
      report.step({ step: this.globalStep, epoch, loss: r.nce, ce: r.ce, lr, applied });
      if (config.debugStep) {
        bar.done();
        logger.info({ step: this.globalStep, loss: r.loss, nce: r.nce, ce: r.ce, lr }, 'debug step done');
        await checkpoints.save(this.globalStep);
        await update.toHost(store);
        return { ended: { uid: this.r.uid, dataset: config.dataset, step: this.globalStep, epoch, checkpointDir, lastLoss: this.lastLoss, store } };
      }
      if (config.checkpointEvery > 0 && this.globalStep % config.checkpointEvery === 0) await checkpoints.save(this.globalStep);
      const stopAt = this.r.stopAfterStep ?? (config.maxSteps > 0 ? config.maxSteps : undefined);
      if (stopAt !== undefined && this.globalStep >= stopAt) {
        bar.done();
        await checkpoints.save(this.globalStep);
        await update.toHost(store);
        if (this.r.stopAfterStep === undefined) await checkpoints.exportEncoder();
        logger.info({ step: this.globalStep, loss: r.nce, peakRssMB: peakRssMB() }, 'stopped at the step limit');
        return { ended: { uid: this.r.uid, dataset: config.dataset, step: this.globalStep, epoch, checkpointDir, lastLoss: this.lastLoss, store,
          progress: leader ? tracker.document() : undefined } };
      }
    }
    bar.done();
    const seconds = (performance.now() - t0) / 1000;
    const stats: EpochStats = {
      epoch: epoch + 1,
      step: this.globalStep,
      loss: lossSum / Math.max(1, steps - skipped),
      classifierLoss: ceSum / Math.max(1, steps - skipped),
      trainTop1: correct1 / Math.max(1, seen),
      trainTop5: correct5 / Math.max(1, seen),
      lr: schedule.at(Math.max(0, this.globalStep - 1)),
      imagesPerSecond: (steps * config.batchSize) / seconds,
      epochSeconds: seconds,
    };
    logger.info(stats, 'epoch done');
    return { stats };
  }

  /** The epoch's checkpoint and evaluation, and --early-stop's verdict on it: true when the run stops here. */
  private async evaluateEpoch(epoch: number, trainStats: EpochStats): Promise<boolean> {
    const { config, group, leader, logger, engine, store, update, average, stopper, checkpoints, report, model, contract, trainSet,
      validSet, testSet, checkpointDir } = this.r;
    const last = epoch === config.epochs - 1;
    await checkpoints.save(this.globalStep);
    await update.toHost(store); // evaluation reads the weights on the host (save did this on rank 0 only)
    report.tracker.setPhase('evaluating');
    this.forward ??= EvalForward.create(engine, {
      model,
      batchSize: Math.min(500, config.batchSize * 2),
      height: contract.height,
      width: contract.width,
    });
    const forward = this.forward;
    const te = performance.now();
    const bank = last ? trainSet.length : Math.min(trainSet.length, this.r.intermediateKnnBank ?? 10000);
    // Every rank takes its shard of the evaluation (no rank idles in a collective while another evaluates).
    const evalSet = !last && validSet !== undefined ? validSet : testSet;
    const evalWeights = average?.store ?? store;
    const evalResult = await evaluateModel(engine, forward, evalWeights, trainSet, evalSet, group, {
      knnK: config.knnK,
      bank,
      probe: last,
      seed: config.seed,
    });
    this.evalResult = evalResult;
    const split: EvalSplit = evalSet === validSet ? 'valid' : 'test';
    report.evaluated(trainStats, split, evalResult, { bank, startedAt: te });
    this.epochsDone = epoch + 1;
    if (stopper !== undefined) {
      // The monitor is the per-epoch protocol every epoch; the last epoch's report (all training images as the
      // bank, the test set) is measured again that way unless it is the same protocol.
      const sameProtocol = bank === this.monitorBank && evalSet === this.monitorSet;
      const monitored = sameProtocol ? evalResult
        : await evaluateModel(engine, forward, evalWeights, trainSet, this.monitorSet, group,
          { knnK: config.knnK, bank: this.monitorBank, probe: false, seed: config.seed });
      let verdict = stopper.observe(this.globalStep, monitored.knnTop1);
      if (leader) await stopper.save(checkpointDir);
      verdict = (await agreedVerdict(group, verdict))!; // rank 0's history decides (it alone read it on resume)
      this.verdict = verdict;
      logger.info({ epoch: epoch + 1, knnTop1: monitored.knnTop1, ...verdict, patience: config.earlyStopPatience }, 'early stop: kNN top-1 checked');
      if (verdict.stop && !last) {
        logger.info({ bestStep: verdict.bestStep, knnTop1: verdict.bestKnnTop1 }, `early stop: no better kNN top-1 for ${verdict.sinceBest} evaluations`);
        return true;
      }
    }
    return false;
  }

  /** After the last epoch (or an early stop): the best checkpoint's evaluation where it is not the last, the export. */
  private async finish(): Promise<TrainResult> {
    const { uid, config, group, leader, logger, engine, store, average, stopper, checkpoints, report, model, contract, trainSet, testSet,
      checkpointDir } = this.r;
    const { tracker } = report;
    const verdict = this.verdict;
    let earlyStop: TrainResult['earlyStop'];
    if (stopper !== undefined && verdict !== undefined) {
      earlyStop = { bestStep: verdict.bestStep, stopped: verdict.stop };
      if (verdict.bestStep !== this.globalStep || earlyStop.stopped) {
        // What the run reports and exports is the best checkpoint: its final evaluation is measured on it.
        const finalWeights = await checkpoints.bestWeights(verdict.bestStep);
        const te = performance.now();
        this.forward ??= EvalForward.create(engine, { model, batchSize: Math.min(500, config.batchSize * 2), height: contract.height, width: contract.width });
        this.evalResult = await evaluateModel(engine, this.forward, finalWeights, trainSet, testSet, group, {
          knnK: config.knnK, bank: trainSet.length, probe: true, seed: config.seed,
        });
        const evalResult = this.evalResult;
        tracker.recordEval({ split: 'test', top1: evalResult.top1, top5: evalResult.top5, knnTop1: evalResult.knnTop1 });
        logger.info({ step: verdict.bestStep, split: 'test', ...evalResult, evalSeconds: (performance.now() - te) / 1000 },
          'evaluation of the best checkpoint on the test set');
      }
    }
    await checkpoints.exportEncoder();
    tracker.setPhase('finished');
    logger.info({ step: this.globalStep, loss: this.lastLoss, peakRssMB: peakRssMB() }, 'training finished');
    const progress = leader ? tracker.document() : undefined;
    return { uid, dataset: config.dataset, step: this.globalStep, epoch: this.epochsDone, checkpointDir, lastLoss: this.lastLoss, eval: this.evalResult,
      store, progress, ...(average !== undefined ? { average: average.store } : {}), ...(earlyStop !== undefined ? { earlyStop } : {}) };
  }
}
