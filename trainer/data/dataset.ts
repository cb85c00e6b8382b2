// The interface every image source implements (IDX, synthetic; ImageFolder and CIFAR plug in later).
// Images are uint8, HWC (interleaved channels, row-major): what IDX, CIFAR (after transposing) and
// sharp's raw output give, so sources need no float conversion; augmentation turns them into NCHW floats.
// get() is async because decoding files (sharp/libvips) is; the loader requests a whole batch at once,
// so such decodes run in parallel on libuv's thread pool. Each sample carries its own size, since
// ImageFolder images differ in size and the random crop is taken before resizing.

/** train and test exist for every source; valid only where the data set has one (ImageFolder's optional valid/). */
export type Split = 'train' | 'valid' | 'test';
/** The splits of sources that ship exactly two (IDX, CIFAR, synthetic). */
export type FixedSplit = Exclude<Split, 'valid'>;

export interface Sample {
  /** height * width * channels bytes, HWC, 0..255 (channels = the data set's). */
  readonly image: Uint8Array;
  readonly height: number;
  readonly width: number;
  /** Class index in [0, numClasses). */
  readonly label: number;
}

/** Per-channel statistics on the [0, 1] scale, used to normalise model inputs. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/**
 * How to open a data set again from scratch (serialisable): what a loader's worker threads use to open their
 * own copy. openDataset sets it; hand-built sources have none and load on the main thread.
 */
export interface DatasetOrigin {
  readonly name: string;
  readonly split: Split;
  readonly dir?: string;
  readonly seed?: number;
  readonly imageSize?: number;
}

export interface Dataset {
  readonly name: string;
  readonly origin?: DatasetOrigin;
  readonly split: Split;
  readonly length: number;
  /** Channels of every sample: 1 (grayscale) or 3 (RGB). */
  readonly channels: number;
  /** The model input size: the native size for fixed-size sources (IDX, CIFAR), the crop output size otherwise. */
  readonly height: number;
  readonly width: number;
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  readonly normalization: Normalization;
  /** Label of sample i without loading its image (kNN and class balance need labels only). */
  label(i: number): number;
  /** Sample i, 0 <= i < length. May return a view into shared memory: do not modify the image. */
  get(i: number): Promise<Sample>;
}

/** A source held in memory (IDX, CIFAR, synthetic): samples are also available synchronously. */
export interface InMemoryDataset extends Dataset {
  getSync(i: number): Sample;
}

/** Throws a RangeError naming the data set when i is out of range. */
export function checkIndex(ds: Pick<Dataset, 'name' | 'split' | 'length'>, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
    throw new RangeError(`${ds.name}/${ds.split}: index ${i} out of range [0, ${ds.length})`);
  }
}
