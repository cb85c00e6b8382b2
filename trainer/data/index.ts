// trainer/data: image sources, augmentation and batch loaders. Imports neither graph nor engine.
import type { Dataset, Split } from './dataset.js';
import { loadMnist } from './mnist.js';
import { createSyntheticDataset } from './synthetic.js';

export type { Dataset, InMemoryDataset, Sample, Split, Normalization } from './dataset.js';
export { Rng, hashInts } from './rng.js';
export type { RngState } from './rng.js';
export { readIdxFile, parseIdx } from './idx.js';
export { loadMnist, DEFAULT_FASHION_MNIST_DIR } from './mnist.js';
export { createSyntheticDataset } from './synthetic.js';
export {
  augmentInto,
  sampleCrop,
  resizeCropInto,
  normalizeInto,
  simclrAugmentParams,
  identityAugmentParams,
} from './augment.js';
export type { AugmentParams, CropBox } from './augment.js';
export { ContrastiveLoader, evalBatches, shardRange } from './loader.js';
export type { ContrastiveBatch, EvalBatch, ContrastiveLoaderOptions, EvalLoaderOptions, Nchw } from './loader.js';

export interface DatasetSource {
  /** The --dataset value. */
  name: string;
  /** The --data-dir value, if given. */
  dir?: string;
  /** Seeds the synthetic source's content. */
  seed?: number;
}

/** Sizes of the synthetic source: small, so tests and smoke runs are fast. */
export const SYNTHETIC_LENGTH: Record<Split, number> = { train: 2048, test: 512 };

/** Open one split of a data set by its --dataset name. */
export async function openDataset(source: DatasetSource, split: Split): Promise<Dataset> {
  switch (source.name) {
    case 'fashion-mnist':
    case 'mnist':
      return loadMnist({ family: source.name, split, dir: source.dir });
    case 'synthetic':
      return createSyntheticDataset({ split, length: SYNTHETIC_LENGTH[split], seed: source.seed ?? 0 });
    default:
      throw new Error(`--dataset=${source.name} is not implemented yet (available: fashion-mnist, mnist, synthetic)`);
  }
}
