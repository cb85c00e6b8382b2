// Resume and checkpoints. Where a run starts: rank 0 reads the newest valid checkpoint of the run (corrupt ones moved
// aside) or, on a fresh start, --weight-initialization. What it writes: weights, BatchNorm buffers, optimizer state,
// the Polyak average and the loss scale at a step (the loader is a pure function of (seed, epoch, step), so a
// checkpoint needs no loader state). What it reads back at the end: the best checkpoint of --early-stop; and the
// product of a run, the encoder exported beside the checkpoints.
import { join } from 'node:path';
import { listManifests, loadCheckpoint, manifestPathOf, resumePoint, saveCheckpoint, type TensorMap } from '../checkpoint/index.js';
import { MAX_CORRUPT_LISTED, type CorruptCheckpoints, type TrainConfig } from '../contract/index.js';
import type { ProcessGroup } from '../collectives/index.js';
import { ParameterStore } from '../engine/index.js';
import type { ModelConfig, ParamSpec } from '../models/index.js';
import type { Logger, ProgressTracker } from '../observe/index.js';
import type { Optimizer, OptimizerState } from '../optim/index.js';
import type { EarlyStopper } from './early-stop.js';
import { ENCODER_FILE, exportFromDir } from './encoder/export.js';
import type { DynamicLossScale, LossScaleState } from './loss-scale.js';
import type { PolyakAverage } from './polyak-ema.js';
import type { InputContract } from './run-setup.js';
import { broadcastArrays } from './sync-state.js';
import type { Update } from './update.js';
import { applyInitialWeights, type InitialWeights } from './weight-init.js';

export interface ResumeOptions {
  config: TrainConfig;
  checkpointDir: string;
  specs: readonly ParamSpec[];
  /** Filled in place: the checkpoint's weights, or --weight-initialization's over the fresh ones. */
  store: ParameterStore;
  optimizer: Optimizer;
  lossScale: DynamicLossScale | undefined;
  /** --weight-initialization, being read (a fresh start only). */
  initialWeights: Promise<InitialWeights> | undefined;
  logger: Logger;
}

/** Where rank 0 starts: the global step, and from a checkpoint its Polyak average and the corrupt ones moved aside. */
export interface StartPoint {
  step: number;
  average?: TensorMap;
  corrupt?: CorruptCheckpoints;
}

async function initialiseOnLeader(o: ResumeOptions): Promise<number> {
  const { initialWeights, specs, store, logger } = o;
  if (initialWeights === undefined) return 0;
  const init = await initialWeights;
  const { loaded, fresh } = applyInitialWeights(init, specs, store);
  logger.info({ weightInitialization: init.path, kind: init.kind, loaded, fresh: fresh.length }, 'initialised the weights from a file');
  return 0;
}

/** Rank 0: --resume from the newest valid checkpoint of the run, else a fresh start (refused over checkpoints). */
export async function resumeOnLeader(o: ResumeOptions): Promise<StartPoint> {
  const { config, checkpointDir, specs, store, optimizer, lossScale, initialWeights, logger } = o;
  let corrupt: CorruptCheckpoints | undefined;
  if (!config.resume && (await listManifests(checkpointDir).catch(() => [])).length > 0) {
    throw new Error(`${checkpointDir} already holds checkpoints: pass --resume to continue that run, or use another --uid`);
  }
  if (!config.resume) return { step: await initialiseOnLeader(o) };
  const found = await resumePoint(checkpointDir);
  const ckpt = found.checkpoint;
  if (found.movedTo !== undefined) {
    corrupt = { resumedFromStep: ckpt?.step ?? 0, count: found.corrupt.length, movedTo: found.movedTo,
      checkpoints: found.corrupt.slice(0, MAX_CORRUPT_LISTED).map((c) => ({ ...c, reason: c.reason.slice(0, 300) })) };
    for (const c of found.corrupt) logger.warn({ dir: checkpointDir }, `skipping invalid checkpoint: ${c.reason}`);
    logger.warn({ movedTo: found.movedTo, resumedFromStep: corrupt.resumedFromStep },
      `${found.corrupt.length} corrupt checkpoint(s) moved aside, kept for inspection`);
  }
  if (ckpt === undefined) {
    logger.info({ dir: checkpointDir }, 'no valid checkpoint to resume from: starting fresh');
    return { step: await initialiseOnLeader(o), corrupt };
  }
  if (initialWeights !== undefined) logger.info('resuming this run\'s checkpoint: --weight-initialization applies to a fresh start only');
  for (const s of specs) {
    const t = ckpt.weights[s.name];
    if (t === undefined) throw new Error(`${ckpt.tensorPath}: no weights for ${s.name} (was it written by another model config?)`);
    if (!(t.data instanceof Float32Array) || t.data.length !== store.require(s.name).data.length) {
      throw new Error(`${ckpt.tensorPath}: ${s.name} has the wrong size or type for this model config`);
    }
    store.require(s.name).data.set(t.data);
  }
  const tensors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(ckpt.optimizer)) tensors[k] = v.data as Float32Array;
  optimizer.loadStateDict({ kind: config.optimizer, step: Number(ckpt.extra?.optimizerStep ?? 0), tensors });
  // A checkpoint of an fp32 run has none: an fp16 run resumed from it starts from the initial scale.
  if (lossScale !== undefined && ckpt.extra?.lossScale !== undefined) lossScale.load(ckpt.extra.lossScale as LossScaleState);
  logger.info({ checkpoint: ckpt.manifestPath, step: ckpt.step, ...(lossScale ? { lossScale: lossScale.scale } : {}) }, 'resumed');
  return { step: ckpt.step, average: ckpt.ema, corrupt };
}

function f32(shape: readonly number[], data: Float32Array): TensorMap[string] {
  return { dtype: 'F32', shape: [...shape], data };
}

function optimizerTensors(state: OptimizerState): Record<string, TensorMap[string]> {
  const out: Record<string, TensorMap[string]> = {};
  for (const [k, v] of Object.entries(state.tensors)) out[k] = f32([v.length], v);
  return out;
}

export interface CheckpointsOptions {
  /** Rank 0: the only rank that reads and writes checkpoints. */
  leader: boolean;
  group: ProcessGroup;
  config: TrainConfig;
  checkpointDir: string;
  specs: readonly ParamSpec[];
  store: ParameterStore;
  optimizer: Optimizer;
  update: Update;
  average: PolyakAverage | undefined;
  lossScale: DynamicLossScale | undefined;
  /** --early-stop: its best checkpoint is kept through rotation. */
  stopper: EarlyStopper | undefined;
  contract: InputContract;
  model: ModelConfig;
  stepsPerEpoch: number;
  tracker: Pick<ProgressTracker, 'setPhase' | 'recordCheckpoint'>;
  logger: Logger;
}

/** The checkpoints of one run, in <model-dir>/<uid>: written by rank 0, the best one read back for every rank. */
export class Checkpoints {
  /** The step of the newest checkpoint this process wrote (-1: none yet). */
  lastSaved = -1;

  constructor(private readonly o: CheckpointsOptions) {}

  /** Rank 0 writes the checkpoint of `globalStep` (once; other ranks return at once). */
  async save(globalStep: number): Promise<void> {
    const { leader, config, checkpointDir, specs, store, optimizer, update, average, lossScale, stopper, contract, model, tracker, logger } = this.o;
    if (!leader || this.lastSaved === globalStep) return;
    tracker.setPhase('checkpointing');
    await update.toHost(store);
    const weights: Record<string, TensorMap[string]> = {};
    for (const s of specs) weights[s.name] = f32(s.shape, store.require(s.name).data);
    const opt = optimizer.stateDict();
    const saved = await saveCheckpoint(
      checkpointDir,
      {
        step: globalStep,
        epoch: Math.floor(globalStep / this.o.stepsPerEpoch),
        weights,
        optimizer: optimizerTensors(opt),
        ...(average !== undefined ? { ema: average.tensors() } : {}),
        rng: { seed: config.seed, loader: 'pure function of (seed, epoch, step)' },
        config,
        extra: { optimizerStep: opt.step, input: contract, model, ...(lossScale ? { lossScale: lossScale.state() } : {}) },
      },
      { keep: config.keepCheckpoints, protect: stopper?.bestStep !== undefined ? [stopper.bestStep] : [], onWarning: (m) => logger.warn(m) },
    );
    this.lastSaved = globalStep;
    tracker.recordCheckpoint({ path: saved.manifestPath, step: saved.step, epoch: saved.epoch, time: saved.createdAt });
    logger.debug({ checkpoint: saved.manifestPath }, 'checkpoint written');
  }

  /** The evaluation weights (Polyak average, else trained) of the checkpoint of `bestStep`, read by rank 0, on every rank. */
  async bestWeights(bestStep: number): Promise<ParameterStore> {
    const { leader, group, checkpointDir, specs } = this.o;
    const best = new ParameterStore();
    for (const s of specs) best.set(s.name, s.shape);
    let failure: string | undefined;
    if (leader) {
      try {
        const ckpt = await loadCheckpoint(manifestPathOf(checkpointDir, bestStep));
        const weights = ckpt.ema ?? ckpt.weights;
        for (const s of specs) best.require(s.name).data.set(weights[s.name]!.data as Float32Array);
      } catch (err) {
        failure = `the best checkpoint (step ${bestStep}) cannot be read: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    const ok = group.worldSize === 1 ? Int32Array.of(failure === undefined ? 1 : 0) : await group.broadcast(Int32Array.of(failure === undefined ? 1 : 0));
    if (ok[0] !== 1) throw new Error(failure ?? 'rank 0 could not read the best checkpoint');
    await broadcastArrays(group, specs.map((s) => best.require(s.name).data));
    return best;
  }

  /** The product of a run: the encoder as a standalone ONNX model beside the checkpoints (what `simclr export` writes). */
  async exportEncoder(): Promise<void> {
    const { leader, config, checkpointDir, logger } = this.o;
    if (!leader) return;
    const out = join(checkpointDir, ENCODER_FILE);
    // A run resumed without --early-stop exports its newest weights, whatever an earlier early-stop.json says.
    const exported = await exportFromDir(checkpointDir, out, (m) => logger.warn(m), config.earlyStop);
    logger.info({ encoder: out, step: exported.step }, 'exported the encoder');
  }
}
