// What a run is built from before it trains: the input contract (what the encoder takes, which the exported model
// carries), the model's config, and the engine with the provider's options.
import type { TrainConfig } from '../contract/index.js';
import type { Dataset, Normalization } from '../data/index.js';
import { Engine, type CudaSessionOptions } from '../engine/index.js';
import type { CollectiveGroup } from '../native/index.js';
import { resolveStem, type ModelConfig } from '../models/index.js';

/** What export/embed need to rebuild the encoder without the data set: kept in every checkpoint's extra. */
export interface InputContract {
  inputChannels: number;
  /** The encoder's input at evaluation and in the exported model. */
  height: number;
  width: number;
  /** The training crops' size, where it differs from height x width (--eval-image-size). */
  trainHeight?: number;
  trainWidth?: number;
  numClasses: number;
  normalization: Normalization;
  dataset: string;
}

export function inputContractOf(config: TrainConfig, ds: Dataset): InputContract {
  const size = config.imageSizeOverride;
  const [trainHeight, trainWidth] = [size ?? ds.height, size ?? ds.width];
  const [height, width] = config.evalImageSize === undefined ? [trainHeight, trainWidth] : [config.evalImageSize, config.evalImageSize];
  return {
    inputChannels: ds.channels,
    height,
    width,
    ...(height !== trainHeight || width !== trainWidth ? { trainHeight, trainWidth } : {}),
    numClasses: ds.numClasses,
    normalization: ds.normalization,
    dataset: ds.name,
  };
}

export function modelConfigFor(config: TrainConfig, contract: InputContract): ModelConfig {
  return {
    arch: config.arch,
    stem: resolveStem(config.stem, Math.min(...trainingSize(contract))),
    widthMultiplier: config.widthMultiplier,
    inputChannels: contract.inputChannels,
    headLatentSize: config.headLatentSize,
    nceSize: config.nceSize,
    numClasses: contract.numClasses,
    // Synchronized BatchNorm matters only with several replicas (one replica's batch is already the global one).
    ...(config.convertToSyncBn && config.numReplicas > 1 ? { syncBatchNormReplicas: config.numReplicas } : {}),
  };
}

/** [height, width] of the training crops. */
export function trainingSize(contract: InputContract): [number, number] {
  return [contract.trainHeight ?? contract.height, contract.trainWidth ?? contract.width];
}

/** `collectives`: the process group that synchronized BatchNorm's graphs sum over (training runs with replicas). */
export async function createEngine(config: TrainConfig, collectives?: CollectiveGroup): Promise<Engine> {
  // ORT's idle threads spin by default: same wall time per step here, but ~25% more CPU (bench/train-step.ts,
  // --spinning), taken from data workers, other replicas on the machine, or a pod's CPU quota.
  return Engine.create({
    provider: config.executionProvider,
    threads: config.threads > 0 ? config.threads : undefined,
    spinning: false,
    ...(config.executionProvider === 'cuda' ? { cuda: cudaOptions(config) } : {}),
    ...(collectives !== undefined ? { collectives } : {}),
  });
}

/** The CUDA provider's options from their flags; unset ones keep ONNX Runtime's defaults. */
export function cudaOptions(config: TrainConfig): CudaSessionOptions {
  return {
    ...(config.cudaTf32 !== undefined ? { tf32: config.cudaTf32 } : {}),
    ...(config.cudnnConvAlgoSearch !== undefined ? { convAlgoSearch: config.cudnnConvAlgoSearch } : {}),
    ...(config.cudaMemoryLimitMib !== undefined ? { memoryLimit: config.cudaMemoryLimitMib * 2 ** 20 } : {}),
  };
}
