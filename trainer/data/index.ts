// trainer/data: image sources, augmentation and batch loaders. Imports neither graph nor engine.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, DatasetOrigin, FixedSplit, Split } from './dataset.js';
import { loadCifar } from './cifar.js';
import { openImageFolder } from './image-folder.js';
import { loadMnist } from './mnist.js';
import { createSyntheticDataset } from './synthetic.js';
import { DataError } from './errors.js';

export type { Dataset, DatasetOrigin, FixedSplit, InMemoryDataset, Sample, Split, Normalization } from './dataset.js';
export { Rng, hashInts } from './rng.js';
export type { RngState } from './rng.js';
export { readIdxFile, parseIdx } from './idx.js';
export { loadMnist, DEFAULT_FASHION_MNIST_DIR } from './mnist.js';
export { createSyntheticDataset } from './synthetic.js';
export { loadCifar, parseCifarRecords, CIFAR_SIDE } from './cifar.js';
export type { CifarFamily } from './cifar.js';
export { openImageFolder, scanImageFolder, IMAGENET_NORMALIZATION, DEFAULT_IMAGE_FOLDER_SIZE } from './image-folder.js';
export {
  augmentInto,
  sampleCrop,
  normalizeInto,
  centreCropBox,
  simclrAugmentParams,
  identityAugmentParams,
  trainingAugmentParams,
} from './augment.js';
export type { AugmentFlags, AugmentParams } from './augment.js';
export { resizeCropInto, resampleAxis } from './resample.js';
export { imageKernels } from '../native/index.js';
export type { CropBox } from './resample.js';
export { ContrastiveLoader, evalBatches, shardRange } from './loader.js';
export { augmentationGrids, augmentationPairGrid } from './grid.js';
export type { PngImage, ViewsBatch } from './grid.js';
export type { ContrastiveBatch, EvalBatch, ContrastiveLoaderOptions, EvalLoaderOptions, Nchw } from './loader.js';

export { DataError } from './errors.js';

export interface DatasetSource {
  /** The --dataset value. */
  name: string;
  /** The --data-dir value, if given. */
  dir?: string;
  /** Seeds the synthetic source's content. */
  seed?: number;
  /** imagefolder: the model input side (--image-size-override); default 224. Fixed-size sources ignore it. */
  imageSize?: number;
  /** Where sources report skipped files and unreadable images (default: one line on stderr). */
  onWarning?: (message: string) => void;
}

/** Sizes of the synthetic source: small, so tests and smoke runs are fast. */
export const SYNTHETIC_LENGTH: Record<FixedSplit, number> = { train: 2048, test: 512 };

/** Open one split of a data set by its --dataset name; the result carries its origin (for loader workers). */
export async function openDataset(source: DatasetSource, split: Split): Promise<Dataset> {
  let ds: Dataset;
  try {
    ds = await openSource(source, split);
  } catch (err) {
    // Whatever stops a data set from opening is in the data or the flags that point at it, never transient.
    throw err instanceof DataError ? err : new DataError((err as Error).message, { cause: err });
  }
  const origin: DatasetOrigin = { name: source.name, split, dir: source.dir, seed: source.seed, imageSize: source.imageSize };
  return Object.defineProperty(ds, 'origin', { value: origin, enumerable: false });
}

/**
 * The validation split when the data set has one (ImageFolder with a valid/ folder), else undefined.
 * A valid/ folder that exists but holds no image is an error, as for any other split.
 */
export async function openValidationSet(source: DatasetSource): Promise<Dataset | undefined> {
  if (source.name !== 'imagefolder' || source.dir === undefined || !existsSync(join(source.dir, 'valid'))) return undefined;
  return openDataset(source, 'valid');
}

/** Every --dataset value; only imagefolder can have a valid split. */
export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'imagefolder', 'synthetic'] as const;

async function openSource(source: DatasetSource, split: Split): Promise<Dataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(source.name)) {
    throw new Error(`--dataset=${source.name} is not a data set: use ${DATASET_NAMES.join(', ')}`);
  }
  if (source.name === 'imagefolder') {
    return openImageFolder({ dir: requireDir(source), split, size: source.imageSize, onWarning: source.onWarning });
  }
  if (split === 'valid') {
    throw new Error(`--dataset=${source.name} has no valid split: only imagefolder reads one (<data-dir>/valid); use train or test`);
  }
  switch (source.name) {
    case 'fashion-mnist':
    case 'mnist':
      return loadMnist({ family: source.name, split, dir: source.dir });
    case 'cifar10':
    case 'cifar100':
      return loadCifar({ family: source.name, split, dir: requireDir(source) });
    default:
      return createSyntheticDataset({ split, length: SYNTHETIC_LENGTH[split], seed: source.seed ?? 0 });
  }
}

function requireDir(source: DatasetSource): string {
  if (source.dir === undefined) throw new Error(`--dataset=${source.name} needs --data-dir: point it at the data set folder`);
  return source.dir;
}
