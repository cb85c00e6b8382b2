// Fashion-MNIST and MNIST from their IDX files (28x28 grayscale, 10 classes).
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { checkIndex, type InMemoryDataset, type Normalization, type Sample, type FixedSplit } from './dataset.js';
import { readIdxFile } from './idx.js';

export type MnistFamily = 'fashion-mnist' | 'mnist';

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

// Training-set statistics on the [0, 1] scale (the commonly used values).
const STATS: Record<MnistFamily, Normalization> = {
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
};

/** The first existing of `base` and `base.gz`; an error listing both when neither exists. */
async function findIdxFile(dir: string, base: string, family: MnistFamily): Promise<string> {
  const candidates = [join(dir, `${base}.gz`), join(dir, base)];
  for (const path of candidates) {
    try {
      await access(path);
      return path;
    } catch {
      // try the next name
    }
  }
  const hint = family === 'fashion-mnist' ? ' (apt-get install dataset-fashion-mnist, or pass --data-dir)' : ' (pass --data-dir)';
  throw new Error(`${family}: missing ${candidates.join(' and ')}${hint}`);
}

class IdxImageDataset implements InMemoryDataset {
  readonly channels = 1;
  readonly numClasses = 10;
  constructor(
    readonly name: MnistFamily,
    readonly split: FixedSplit,
    readonly length: number,
    readonly height: number,
    readonly width: number,
    private readonly pixels: Uint8Array,
    private readonly labels: Uint8Array,
    readonly classNames: readonly string[],
    readonly normalization: Normalization,
  ) {}

  label(i: number): number {
    checkIndex(this, i);
    return this.labels[i];
  }

  /** Synchronous access for callers that know the source is in memory. */
  getSync(i: number): Sample {
    checkIndex(this, i);
    const size = this.height * this.width;
    return { image: this.pixels.subarray(i * size, (i + 1) * size), height: this.height, width: this.width, label: this.labels[i] };
  }

  get(i: number): Promise<Sample> {
    try {
      return Promise.resolve(this.getSync(i));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

export interface MnistOptions {
  family: MnistFamily;
  split: FixedSplit;
  /** Default: DEFAULT_FASHION_MNIST_DIR for fashion-mnist; required for mnist. */
  dir?: string;
}

/** Load one split; the images stay in one buffer (47 MB for the training set). */
export async function loadMnist(opts: MnistOptions): Promise<InMemoryDataset> {
  const dir = opts.dir ?? (opts.family === 'fashion-mnist' ? DEFAULT_FASHION_MNIST_DIR : undefined);
  if (dir === undefined) throw new Error(`${opts.family}: no default folder; pass --data-dir`);
  const prefix = opts.split === 'train' ? 'train' : 't10k';
  const imagesPath = await findIdxFile(dir, `${prefix}-images-idx3-ubyte`, opts.family);
  const labelsPath = await findIdxFile(dir, `${prefix}-labels-idx1-ubyte`, opts.family);
  const [images, labels] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  if (images.dims.length !== 3) throw new Error(`${imagesPath}: expected 3 dimensions, got ${images.dims.length}`);
  if (labels.dims.length !== 1) throw new Error(`${labelsPath}: expected 1 dimension, got ${labels.dims.length}`);
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${labelsPath}: ${labels.dims[0]} labels for ${n} images in ${imagesPath}`);
  const badLabel = labels.data.findIndex((l) => l > 9);
  if (badLabel !== -1) throw new Error(`${labelsPath}: label ${labels.data[badLabel]} at ${badLabel} is not in 0..9`);
  const classNames = opts.family === 'fashion-mnist' ? FASHION_CLASSES : DIGITS;
  return new IdxImageDataset(opts.family, opts.split, n, h, w, images.data, labels.data, classNames, STATS[opts.family]);
}
