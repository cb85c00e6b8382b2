// A training run, one process of it: resolve the data set, join the process group, build what the epoch loop drives
// (data and loader, engine, step, parameters, optimizer and schedule, the starting state every rank shares, the
// update, reporting, checkpoints), run it and release it all. The parts: run-setup.ts (input contract, model config,
// engine), stepper.ts (fused or gradient-cache step), checkpointing.ts (resume, checkpoints, the exported encoder),
// reporting.ts (progress, TensorBoard, logs), epoch-loop.ts (steps, evaluation, early stop, the end of a run).
import { join } from 'node:path';
import type { TrainConfig } from '../contract/index.js';
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
import { ParameterStore } from '../engine/index.js';
import { initParameters } from '../models/index.js';
import { createLogger, type Logger } from '../observe/index.js';
import { LrSchedule, createOptimizer, type Optimizer } from '../optim/index.js';
import { Checkpoints, resumeOnLeader, type StartPoint } from './checkpointing.js';
import { EarlyStopper } from './early-stop.js';
import { EpochLoop, type TrainResult } from './epoch-loop.js';
import { PolyakAverage } from './polyak-ema.js';
import { createEngine, inputContractOf, modelConfigFor, trainingSize } from './run-setup.js';
import { broadcastArrays, syncInitialState } from './sync-state.js';
import { readInitialWeights } from './weight-init.js';
import { DynamicLossScale } from './loss-scale.js';
import { RunReport } from './reporting.js';
import { BN_MOMENTUM } from './step.js';
import { createStepper } from './stepper.js';
import { createUpdate } from './update.js';
import { PlannedStop } from './planned-stop.js';

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

export function generatedUid(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
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
  const globalStep = await syncInitialState(group, {
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
  const { tracker } = report;
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
  const loop = new EpochLoop({ uid, config, group, leader, logger, engine, loader, stepsPerEpoch, step, store, schedule, lossScale, update,
    average, stopper, plannedStop: new PlannedStop(group, io.stopSignal), checkpoints, report, contract, model, trainSet, validSet, testSet,
    checkpointDir, startStep: globalStep, intermediateKnnBank: io.intermediateKnnBank, stopAfterStep: io.stopAfterStep });
  try {
    return await loop.run();
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
