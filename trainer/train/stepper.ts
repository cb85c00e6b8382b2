// The training step as the loop drives it: the fused program (one replica, the whole local batch as one chunk) or the
// gradient-cache step over the process group (with NCCL for the device-side sums on CUDA).
import type { TrainConfig } from '../contract/index.js';
import { NcclGroup, type ProcessGroup } from '../collectives/index.js';
import type { Engine, ParameterStore } from '../engine/index.js';
import type { ModelConfig, ParamSpec } from '../models/index.js';
import { GradientCacheStep, type Collectives } from './gradient-cache.js';
import { TrainStep, hostOutcome, type StepBatch, type StepOutcome } from './step.js';
import type { Update } from './update.js';

/**
 * One training step as the loop sees it: the fused program, or the gradient-cache step over the process group. Its
 * outputs (grad/<p>, bnstat/<bn>.mean|var) feed the update: with the state on the device, the fused step's never
 * leave the provider's memory; the gradient-cache step brings them to the host for the collectives.
 */
export interface Stepper {
  readonly specs: readonly ParamSpec[];
  readonly trainable: ParamSpec[];
  readonly kind: 'fused' | 'gradient-cache';
  /** Per BatchNorm, the element count behind the statistics in a step's outputs. */
  readonly statCounts: ReadonlyMap<string, number>;
  /** fp16: the step's gradients come `lossScale` times too large (the update divides it out). */
  run(batch: StepBatch, store: ParameterStore, lossScale?: number): Promise<StepOutcome>;
  release(): Promise<void>;
}

/**
 * One replica with the whole local batch as one chunk runs the fused program (one forward, one backward). Anything
 * else (several replicas, or --gradient-cache-chunk below the local batch) runs the gradient-cache step, which makes
 * the contrastive loss and its gradient global across replicas.
 */
export async function createStepper(
  engine: Engine,
  config: TrainConfig,
  group: ProcessGroup,
  opts: { model: ModelConfig; height: number; width: number; placement: Update['placement'] },
): Promise<Stepper> {
  const localBatch = config.batchSize / group.worldSize;
  const chunk = config.gradientCacheChunk > 0 ? config.gradientCacheChunk : localBatch;
  const common = { model: opts.model, batchSize: localBatch, height: opts.height, width: opts.width, temperature: config.nceTemperature,
    precision: config.precision };
  const k = opts.model.numClasses;
  if (group.worldSize === 1 && chunk === localBatch) {
    const step = await TrainStep.compile(engine, common);
    return {
      specs: step.specs,
      trainable: step.trainable,
      kind: 'fused',
      statCounts: step.statCounts,
      run: opts.placement === 'device' ? (b, s, scale) => step.runOnDevice(b, s, scale) : async (b, s) => hostOutcome(await step.run(b, s), b.labels, k),
      release: () => step.release(),
    };
  }
  const onDevice = opts.placement === 'device';
  const step = await GradientCacheStep.compile(engine, { ...common, chunk, worldSize: group.worldSize, accumulateOnDevice: onDevice });
  // On CUDA the gradients are summed across ranks by NCCL where they are; Gloo carries the host-side collectives.
  const nccl = onDevice && engine.provider === 'cuda' && group.worldSize > 1 ? await NcclGroup.connect(group, engine.deviceId) : undefined;
  const collectives: Collectives = nccl === undefined ? group : {
    rank: group.rank,
    worldSize: group.worldSize,
    allreduceSum: (data) => group.allreduceSum(data),
    allgather: (data) => group.allgather(data),
    allreduceSumOnDevice: (tensors) => nccl.allreduceSumOnDevice(tensors),
  };
  return {
    specs: step.specs,
    trainable: step.trainable,
    kind: 'gradient-cache',
    statCounts: step.statCounts,
    run: onDevice ? (b, s, scale) => step.runOnDevice(b, s, collectives, scale) : async (b, s) => hostOutcome(await step.run(b, s, group), b.labels, k),
    release: async () => {
      nccl?.destroy();
      await step.release();
    },
  };
}
