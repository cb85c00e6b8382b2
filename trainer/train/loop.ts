// The single-process training loop: data -> fused step -> update, per-epoch evaluation, logs, TensorBoard scalars,
// progress (bar, tracker, HTTP), checkpoints and exact resume (the loader is a pure function of (seed, epoch, step),
// so a checkpoint needs no loader state: weights, BN running stats, optimizer state and the step are enough).
import { join } from 'node:path';
import type { EvalSplit, ProgressDocument, TrainConfig } from '../contract/index.js';
import {
  ContrastiveLoader,
  openDataset,
  imageKernels,
  openValidationSet,
  trainingAugmentParams,
  withResolvedDataset,
  type Dataset,
} from '../data/index.js';
import { ProcessGroup } from '../collectives/index.js';
import { ParameterStore, copyToHost } from '../engine/index.js';
import { initParameters } from '../models/index.js';
import { createLogger, type Logger } from '../observe/index.js';
import { LrSchedule, createOptimizer, type Optimizer } from '../optim/index.js';
import { Checkpoints, resumeOnLeader, type StartPoint } from './checkpointing.js';
import { evaluateModel, type EvalResult } from './evaluation/evaluate-model.js';
import { EvalForward } from './evaluation/features.js';
import { EarlyStopper, type Verdict } from './early-stop.js';
import { PolyakAverage } from './polyak-ema.js';
import { createEngine, inputContractOf, modelConfigFor, trainingSize } from './run-setup.js';
import { broadcastArrays, syncInitialState } from './sync-state.js';
import { readInitialWeights } from './weight-init.js';
import { DynamicLossScale, applyScaled } from './loss-scale.js';
import { RunReport, type EpochStats } from './reporting.js';
import { BN_MOMENTUM } from './step.js';
import { createStepper } from './stepper.js';
import { createUpdate } from './update.js';
import { PlannedStop } from './planned-stop.js';



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

export interface TrainIo {
  logger?: Logger;
  /** Where the progress bar draws (a TTY only). Default process.stderr. */
  barStream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Rows of the train set used as the kNN bank after intermediate epochs (the final epoch uses all). */
  intermediateKnnBank?: number;
  /** Stop (after checkpointing) once this many global steps are done, as a preempted run would. */
  stopAfterStep?: number;
  /** Aborted on a planned stop (SIGTERM): every rank stops at the next step boundary, rank 0 checkpoints that step.
   * Every rank passes one, or none (the ranks vote on it at each step). */
  stopSignal?: AbortSignal;
}

/** Promise.all, except that the rejection reported is the first in list order rather than the first in time. */
async function inOrder<T extends readonly unknown[] | []>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = (await Promise.allSettled(promises)) as PromiseSettledResult<unknown>[];
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/**
 * --workers-per-replica, with -1 resolved: workers pay for themselves when images must be decoded from files; an
 * in-memory set would be copied into every worker (measured: +250 MB RSS for Fashion-MNIST with 2) for augmentation
 * that already runs 20x faster than the step on the main thread (bench/README.md, data-pipeline).
 */
function loaderWorkers(flag: number, ds: Dataset): number {
  if (flag >= 0) return flag;
  return 'getSync' in ds ? 0 : 2;
}

/** The process's peak resident memory so far, in MiB (what bounds the batch a machine can train). */
function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export function generatedUid(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}



/** Rank 0's verdict on every rank (undefined when rank 0 has none). */
async function agreedVerdict(group: ProcessGroup, verdict: Verdict | undefined): Promise<Verdict | undefined> {
  if (group.worldSize === 1) return verdict;
  const v = verdict ?? { bestStep: 0, bestKnnTop1: 0, sinceBest: 0, stop: false };
  // Integers: a top-1 fraction in units of 1e-9 fits an int32.
  const agreed = await group.broadcast(Int32Array.of(verdict === undefined ? 0 : 1, v.stop ? 1 : 0, v.bestStep, Math.round(v.bestKnnTop1 * 1e9), v.sinceBest));
  return agreed[0] === 0 ? undefined : { stop: agreed[1] === 1, bestStep: agreed[2], bestKnnTop1: agreed[3] / 1e9, sinceBest: agreed[4] };
}


export async function train(given: TrainConfig, io: TrainIo = {}): Promise<TrainResult> {
  const uid = given.uid ?? generatedUid();
  const logger = io.logger ?? createLogger({ level: given.logLevel, bindings: { uid } });
  // Before the rendezvous, like every check of the flags: a folder that is no data set fails at once on every rank.
  const { config, evidence } = await withResolvedDataset(given);
  if (evidence !== undefined) logger.info({ dataset: config.dataset, from: evidence }, 'data set inferred from --data-dir');
  // Rendezvous first: a wrong master address fails before minutes of data loading and compiling.
  const group = await ProcessGroup.init({
    rank: config.distributedRank,
    worldSize: config.numReplicas,
    masterAddr: config.distributedMaster,
    masterPort: config.distributedPort,
    rendezvousTimeoutMs: Math.round(config.rendezvousTimeout * 1000),
    collectiveTimeoutMs: Math.round(config.collectiveTimeout * 1000),
  });
  try {
    return await trainInGroup(config, uid, logger, group, io);
  } finally {
    await group.destroy();
  }
}

async function trainInGroup(
  config: TrainConfig,
  uid: string,
  rootLogger: Logger,
  group: ProcessGroup,
  io: TrainIo,
): Promise<TrainResult> {
  const logger = group.worldSize > 1 ? rootLogger.child({ rank: group.rank }) : rootLogger;
  // Only rank 0 writes (checkpoints, TensorBoard, progress); every rank computes the same updates.
  const leader = group.rank === 0;
  // Read before the data and the compile, so a wrong path fails in a moment (rank 0 alone reads it, as checkpoints).
  const initialWeights = leader && config.weightInitialization !== undefined ? readInitialWeights(config.weightInitialization) : undefined;
  initialWeights?.catch(() => {}); // awaited in load(); a single process fails right here
  if (group.worldSize === 1) await initialWeights;
  const source = {
    name: config.dataset,
    dir: config.dataDir,
    seed: config.seed,
    imageSize: config.imageSizeOverride,
    onWarning: (m: string) => logger.warn(m),
  };
  // With a valid split (ImageFolder's valid/), epochs before the last are evaluated on it and the test set is
  // touched once, after the last epoch; without one, every epoch is evaluated on the test set.
  // Opened together; when several fail, the error reported is the train split's, whichever finished first.
  const [trainSet, validSet, testSet] = await inOrder([
    openDataset(source, 'train'),
    openValidationSet(source),
    openDataset(source, 'test'),
  ]);
  const contract = inputContractOf(config, trainSet);
  const model = modelConfigFor(config, contract);
  const engine = await createEngine(config, group.inGraph);
  const loader = new ContrastiveLoader(trainSet, {
    globalBatchSize: config.batchSize,
    seed: config.seed,
    rank: group.rank,
    worldSize: group.worldSize,
    augment: trainingAugmentParams(trainSet, config),
    workers: loaderWorkers(config.workersPerReplica, trainSet),
    onWarning: (m) => logger.warn(m),
  });
  const stepsPerEpoch = loader.stepsPerEpoch;
  const [trainHeight, trainWidth] = trainingSize(contract);
  const placement = engine.provider === 'cpu' ? 'host' : 'device'; // as createUpdate chooses (update.ts)
  const step = await createStepper(engine, config, group, { model, height: trainHeight, width: trainWidth, placement });
  const store = new ParameterStore();
  const init = initParameters(step.specs, config.seed);
  for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
  const optimizer: Optimizer = createOptimizer({
    optimizer: config.optimizer,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
  });
  const schedule = LrSchedule.fromEpochs({
    lr: config.lr,
    batchSize: config.batchSize,
    scaling: config.lrScaling,
    decay: config.lrUpdateSchedule,
    warmupEpochs: config.warmup,
    epochs: config.epochs,
    stepsPerEpoch,
  });
  // fp16: gradients are computed loss-scaled, and the update skips the steps that overflow (loss-scale.ts).
  const lossScale = config.precision === 'fp16' ? new DynamicLossScale() : undefined;
  const checkpointDir = join(config.modelDir, uid);
  let start: StartPoint | undefined;
  // Rank 0 alone reads checkpoints and hands every rank the same starting state (no shared volume needed).
  let globalStep = await syncInitialState(group, {
    load: leader
      ? async () => (start = await resumeOnLeader({ config, checkpointDir, specs: step.specs, store, optimizer, lossScale, initialWeights, logger })).step
      : async () => 0,
    store,
    specs: step.specs,
    optimizer,
    lossScale,
  });
  if (!leader && globalStep > 0) logger.info({ step: globalStep, ...(lossScale ? { lossScale: lossScale.scale } : {}) }, 'resumed from rank 0\'s checkpoint');
  const average = config.polyakEma > 0 ? new PolyakAverage(config.polyakEma, step.specs, store) : undefined;
  if (average !== undefined && globalStep > 0) {
    // A checkpoint written without --polyak-ema starts the average at its weights.
    if (start?.average !== undefined) for (const [name, t] of Object.entries(start.average)) average.store.get(name)?.data.set(t.data as Float32Array);
    await broadcastArrays(group, average.arrays());
  }
  const stopper = config.earlyStop
    ? await EarlyStopper.open(checkpointDir, config.earlyStopPatience, leader ? globalStep : 0)
    : undefined;
  // On a GPU provider the weights, running statistics and optimizer state live in the provider's memory from here;
  // they come to the host only for checkpoints and evaluation (update.toHost), and go back before the next step.
  const update = await createUpdate(engine, step.specs, step.statCounts, optimizer,
    { clip: config.clip, bnMomentum: BN_MOMENTUM, lossScaled: lossScale !== undefined });

  const report = await RunReport.open({ uid, config, leader, worldSize: group.worldSize, stepsPerEpoch, checkpointDir, startStep: globalStep,
    corrupt: start?.corrupt, barStream: io.barStream ?? process.stderr, logger });
  const { tracker, bar } = report;
  const checkpoints = new Checkpoints({ leader, group, config, checkpointDir, specs: step.specs, store, optimizer, update, average, lossScale,
    stopper, contract, model, stepsPerEpoch, tracker, logger });

  logger.info(
    {
      dataset: config.dataset,
      train: trainSet.length,
      ...(validSet !== undefined ? { valid: validSet.length } : {}),
      test: testSet.length,
      input: `${contract.inputChannels}x${trainHeight}x${trainWidth}`,
      ...(contract.trainHeight !== undefined ? { evalInput: `${contract.inputChannels}x${contract.height}x${contract.width}` } : {}),
      arch: model.arch,
      stem: model.stem,
      width: model.widthMultiplier,
      params: step.trainable.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0),
      batch: config.batchSize,
      replicas: group.worldSize,
      localBatch: loader.localBatchSize,
      stepKind: step.kind,
      chunk: step.kind === 'gradient-cache' ? config.gradientCacheChunk || loader.localBatchSize : undefined,
      // Whose statistics BatchNorm normalises with: the global batch's (one replica, or --convert-to-sync-bn) or each chunk's.
      batchNorm: model.syncBatchNormReplicas !== undefined || step.kind === 'fused' ? 'global-batch' : 'per-chunk',
      stepsPerEpoch,
      epochs: config.epochs,
      optimizer: config.optimizer,
      imageKernels: imageKernels() !== undefined ? 'native' : 'js', // js: the addon is not built (slower, same batches)
    },
    'training',
  );
  let lastLoss = NaN;
  const plannedStop = new PlannedStop(group, io.stopSignal);
  let evalResult: EvalResult | undefined;
  let epochsDone = Math.floor(globalStep / stepsPerEpoch);
  let verdict: Verdict | undefined;
  // --early-stop's protocol: the same bank and split every epoch (valid/ when there is one).
  const monitorBank = Math.min(trainSet.length, io.intermediateKnnBank ?? 10000);
  const monitorSet = validSet ?? testSet;
  let forward: EvalForward | undefined;
  try {
    // A run that had already stopped early (rank 0's history says so at the step it resumed from) trains no further.
    const stoppedBefore = stopper === undefined ? undefined : await agreedVerdict(group, leader ? stopper.resumedVerdict(globalStep) : undefined);
    if (stoppedBefore?.stop === true) {
      verdict = stoppedBefore;
      logger.info({ bestStep: verdict.bestStep }, 'early stop: this run had already stopped; finishing with its best checkpoint');
    }
    for (let epoch = Math.floor(globalStep / stepsPerEpoch); epoch < config.epochs && verdict?.stop !== true; epoch++) {
      const startStep = globalStep - epoch * stepsPerEpoch;
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
          await checkpoints.save(globalStep);
          await update.toHost(store);
          logger.info({ step: globalStep, checkpointStep: leader ? checkpoints.lastSaved : undefined }, 'stopped on request');
          return { uid, dataset: config.dataset, step: globalStep, epoch, checkpointDir, lastLoss, store, stopped: true };
        }
        if (steps === 0) await report.preview(batch, trainSet.normalization, { step: globalStep, epoch });
        const lr = schedule.at(globalStep);
        await update.toDevice(store);
        const r = await step.run(batch, store, lossScale?.scale);
        if (!Number.isFinite(r.loss) && lossScale === undefined) throw new Error(`loss is ${r.loss} at step ${globalStep}: lower --lr or set --clip`);
        const { norm, applied } = lossScale === undefined
          ? { norm: await update.run(store, r.outputs, lr), applied: true }
          : await applyScaled(update, lossScale, store, r.outputs, lr, globalStep);
        if (!applied) {
          skipped++;
          logger.warn({ step: globalStep, lossScale: lossScale?.scale }, 'fp16 overflow: step skipped, loss scale halved');
        }
        if (average !== undefined && applied) {
          // On a GPU provider a copy of the weights and statistics comes to the host; the state stays on the device.
          const live = update.placement === 'host' ? undefined : await copyToHost(engine, store, average.names());
          average.update((name) => live?.get(name) ?? store.require(name).data);
        }
        if (config.clip > 0 && !Number.isFinite(norm) && applied) {
          // (the host update throws this itself, before changing anything)
          throw new Error(`clip: gradient norm is ${norm} at step ${globalStep}; the step has non-finite gradients (nothing was updated)`);
        }
        globalStep++;
        steps++;
        if (applied) {
          lossSum += r.nce;
          ceSum += r.ce;
          lastLoss = r.nce;
          correct1 += r.correct1;
          correct5 += r.correct5;
          seen += batch.labels.length;
        }
        report.step({ step: globalStep, epoch, loss: r.nce, ce: r.ce, lr, applied });
        if (config.debugStep) {
          bar.done();
          logger.info({ step: globalStep, loss: r.loss, nce: r.nce, ce: r.ce, lr }, 'debug step done');
          await checkpoints.save(globalStep);
          await update.toHost(store);
          return { uid, dataset: config.dataset, step: globalStep, epoch, checkpointDir, lastLoss, store };
        }
        if (config.checkpointEvery > 0 && globalStep % config.checkpointEvery === 0) await checkpoints.save(globalStep);
        const stopAt = io.stopAfterStep ?? (config.maxSteps > 0 ? config.maxSteps : undefined);
        if (stopAt !== undefined && globalStep >= stopAt) {
          bar.done();
          await checkpoints.save(globalStep);
          await update.toHost(store);
          if (io.stopAfterStep === undefined) await checkpoints.exportEncoder();
          logger.info({ step: globalStep, loss: r.nce, peakRssMB: peakRssMB() }, 'stopped at the step limit');
          return { uid, dataset: config.dataset, step: globalStep, epoch, checkpointDir, lastLoss, store, progress: leader ? tracker.document() : undefined };
        }
      }
      bar.done();
      const seconds = (performance.now() - t0) / 1000;
      const last = epoch === config.epochs - 1;
      const trainStats: EpochStats = {
        epoch: epoch + 1,
        step: globalStep,
        loss: lossSum / Math.max(1, steps - skipped),
        classifierLoss: ceSum / Math.max(1, steps - skipped),
        trainTop1: correct1 / Math.max(1, seen),
        trainTop5: correct5 / Math.max(1, seen),
        lr: schedule.at(Math.max(0, globalStep - 1)),
        imagesPerSecond: (steps * config.batchSize) / seconds,
        epochSeconds: seconds,
      };
      logger.info(trainStats, 'epoch done');
      await checkpoints.save(globalStep);
      await update.toHost(store); // evaluation reads the weights on the host (save did this on rank 0 only)
      tracker.setPhase('evaluating');
      forward ??= EvalForward.create(engine, {
        model,
        batchSize: Math.min(500, config.batchSize * 2),
        height: contract.height,
        width: contract.width,
      });
      const te = performance.now();
      const bank = last ? trainSet.length : Math.min(trainSet.length, io.intermediateKnnBank ?? 10000);
      // Every rank takes its shard of the evaluation (no rank idles in a collective while another evaluates).
      const evalSet = !last && validSet !== undefined ? validSet : testSet;
      const evalWeights = average?.store ?? store;
      evalResult = await evaluateModel(engine, forward, evalWeights, trainSet, evalSet, group, {
        knnK: config.knnK,
        bank,
        probe: last,
        seed: config.seed,
      });
      const split: EvalSplit = evalSet === validSet ? 'valid' : 'test';
      report.evaluated(trainStats, split, evalResult, { bank, startedAt: te });
      epochsDone = epoch + 1;
      if (stopper !== undefined) {
        // The monitor is the per-epoch protocol every epoch; the last epoch's report (all training images as the
        // bank, the test set) is measured again that way unless it is the same protocol.
        const sameProtocol = bank === monitorBank && evalSet === monitorSet;
        const monitored = sameProtocol ? evalResult
          : await evaluateModel(engine, forward, evalWeights, trainSet, monitorSet, group, { knnK: config.knnK, bank: monitorBank, probe: false, seed: config.seed });
        verdict = stopper.observe(globalStep, monitored.knnTop1);
        if (leader) await stopper.save(checkpointDir);
        verdict = (await agreedVerdict(group, verdict))!; // rank 0's history decides (it alone read it on resume)
        logger.info({ epoch: epoch + 1, knnTop1: monitored.knnTop1, ...verdict, patience: config.earlyStopPatience }, 'early stop: kNN top-1 checked');
        if (verdict.stop && !last) {
          logger.info({ bestStep: verdict.bestStep, knnTop1: verdict.bestKnnTop1 }, `early stop: no better kNN top-1 for ${verdict.sinceBest} evaluations`);
          break;
        }
      }
    }
    let earlyStop: TrainResult['earlyStop'];
    if (stopper !== undefined && verdict !== undefined) {
      earlyStop = { bestStep: verdict.bestStep, stopped: verdict.stop };
      if (verdict.bestStep !== globalStep || earlyStop.stopped) {
        // What the run reports and exports is the best checkpoint: its final evaluation is measured on it.
        const finalWeights = await checkpoints.bestWeights(verdict.bestStep);
        const te = performance.now();
        forward ??= EvalForward.create(engine, { model, batchSize: Math.min(500, config.batchSize * 2), height: contract.height, width: contract.width });
        evalResult = await evaluateModel(engine, forward, finalWeights, trainSet, testSet, group, {
          knnK: config.knnK, bank: trainSet.length, probe: true, seed: config.seed,
        });
        tracker.recordEval({ split: 'test', top1: evalResult.top1, top5: evalResult.top5, knnTop1: evalResult.knnTop1 });
        logger.info({ step: verdict.bestStep, split: 'test', ...evalResult, evalSeconds: (performance.now() - te) / 1000 },
          'evaluation of the best checkpoint on the test set');
      }
    }
    await checkpoints.exportEncoder();
    tracker.setPhase('finished');
    logger.info({ step: globalStep, loss: lastLoss, peakRssMB: peakRssMB() }, 'training finished');
    const progress = leader ? tracker.document() : undefined;
    return { uid, dataset: config.dataset, step: globalStep, epoch: epochsDone, checkpointDir, lastLoss, eval: evalResult, store, progress,
      ...(average !== undefined ? { average: average.store } : {}), ...(earlyStop !== undefined ? { earlyStop } : {}) };
  } catch (err) {
    tracker.setPhase('failed', err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    await report.close();
    await update.release();
    await step.release();
    await loader.close();
  }
}
