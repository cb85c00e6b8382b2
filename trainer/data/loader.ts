// Batches for training (two augmented views) and evaluation (no augmentation), as NCHW float32.
//
// Determinism by construction, independent of world size and of where a run resumed:
// - the epoch's permutation depends only on (seed, epoch), so every rank computes the same one;
// - global batch b is perm[b*G, (b+1)*G); rank r takes the slice [r*L, (r+1)*L), L = G / worldSize;
// - each sample's augmentation RNG depends only on (seed, epoch, position in the permutation).
// So the union of all ranks' batches equals the single-process batch, and batch (epoch, step) can be
// rebuilt on resume from the config alone, without saving loader state.
// Loading is async (Dataset.get): a batch's samples are requested together, and epoch() prepares the
// next batch while the caller awaits its training step (ONNX Runtime runs off the JS thread).
import { augmentInto, normalizeInto, resizeCropInto, type AugmentParams } from './augment.js';
import type { Dataset } from './dataset.js';
import { Rng, hashInts } from './rng.js';

export type Nchw = readonly [number, number, number, number];

export interface ContrastiveBatch {
  /** [B, C, H, W], B = local batch size. */
  readonly view1: Float32Array;
  readonly view2: Float32Array;
  readonly labels: Int32Array;
  /** Data set index of each row. */
  readonly indices: Int32Array;
  readonly shape: Nchw;
  readonly epoch: number;
  /** Step within the epoch, 0-based. */
  readonly step: number;
}

export interface ContrastiveLoaderOptions {
  /** Batch size summed over all replicas; must be divisible by worldSize. */
  globalBatchSize: number;
  seed: number;
  augment: AugmentParams;
  rank?: number;
  worldSize?: number;
}

const PERMUTATION_SALT = 0x7065726d;
const AUGMENT_SALT = 0x61756720;

export class ContrastiveLoader {
  readonly stepsPerEpoch: number;
  readonly localBatchSize: number;
  readonly shape: Nchw;
  private readonly rank: number;
  private cachedPermutation: { epoch: number; perm: Int32Array } | undefined;

  constructor(
    private readonly dataset: Dataset,
    private readonly opts: ContrastiveLoaderOptions,
  ) {
    const worldSize = opts.worldSize ?? 1;
    this.rank = opts.rank ?? 0;
    if (opts.globalBatchSize % worldSize !== 0) {
      throw new RangeError(`batch size ${opts.globalBatchSize} is not divisible by world size ${worldSize}`);
    }
    if (this.rank < 0 || this.rank >= worldSize) throw new RangeError(`rank ${this.rank} not in [0, ${worldSize})`);
    // drop_last: a partial final batch would change the number of negatives, so it is dropped.
    this.stepsPerEpoch = Math.floor(dataset.length / opts.globalBatchSize);
    if (this.stepsPerEpoch === 0) {
      throw new RangeError(`${dataset.name}/${dataset.split} has ${dataset.length} images, fewer than one batch of ${opts.globalBatchSize}`);
    }
    this.localBatchSize = opts.globalBatchSize / worldSize;
    this.shape = [this.localBatchSize, dataset.channels, opts.augment.outHeight, opts.augment.outWidth];
  }

  /** The epoch's permutation of data set indices, shared by all ranks. */
  permutation(epoch: number): Int32Array {
    if (this.cachedPermutation?.epoch !== epoch) {
      const perm = Rng.fromSeed(hashInts(this.opts.seed, epoch, PERMUTATION_SALT)).permutation(this.dataset.length);
      this.cachedPermutation = { epoch, perm };
    }
    return this.cachedPermutation.perm;
  }

  /** This rank's batch `step` of `epoch`, random access (resume needs no loader state). */
  async batch(epoch: number, step: number): Promise<ContrastiveBatch> {
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`step ${step} not in [0, ${this.stepsPerEpoch})`);
    }
    const perm = this.permutation(epoch);
    const [b, c, h, w] = this.shape;
    const first = step * this.opts.globalBatchSize + this.rank * b;
    const indices = perm.slice(first, first + b);
    const samples = await Promise.all(Array.from(indices, (index) => this.dataset.get(index)));
    const imageSize = c * h * w;
    const view1 = new Float32Array(b * imageSize);
    const view2 = new Float32Array(b * imageSize);
    const labels = new Int32Array(b);
    samples.forEach((sample, row) => {
      // One stream per sample, keyed by its position in the epoch: independent of rank and world size.
      const rng = Rng.fromHash(hashInts(this.opts.seed, epoch, first + row, AUGMENT_SALT));
      augmentInto(rng, sample.image, sample.height, sample.width, c, this.opts.augment, view1, row * imageSize);
      augmentInto(rng, sample.image, sample.height, sample.width, c, this.opts.augment, view2, row * imageSize);
      labels[row] = sample.label;
    });
    return { view1, view2, labels, indices, shape: this.shape, epoch, step };
  }

  /** Batches of one epoch from `startStep` on, each prepared while the previous one is in use. */
  async *epoch(epoch: number, startStep = 0): AsyncGenerator<ContrastiveBatch> {
    let next: Promise<ContrastiveBatch> | undefined = startStep < this.stepsPerEpoch ? this.batch(epoch, startStep) : undefined;
    try {
      for (let step = startStep; next !== undefined; step++) {
        const current = await next;
        next = step + 1 < this.stepsPerEpoch ? this.batch(epoch, step + 1) : undefined;
        yield current;
      }
    } finally {
      next?.catch(() => undefined); // the caller stopped early: a failed prefetch is nobody's error
    }
  }
}

export interface EvalBatch {
  /** [B, C, H, W]; the last batch may be smaller. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly indices: Int32Array;
  readonly shape: Nchw;
}

export interface EvalLoaderOptions {
  batchSize: number;
  outHeight: number;
  outWidth: number;
  rank?: number;
  worldSize?: number;
}

/** The contiguous block of indices [start, end) that `rank` evaluates; blocks cover the data set once. */
export function shardRange(length: number, rank: number, worldSize: number): [number, number] {
  const per = Math.ceil(length / worldSize);
  return [Math.min(rank * per, length), Math.min((rank + 1) * per, length)];
}

/** Every image of this rank's shard once, in order, resized (whole image) and normalised; no drop_last. */
export async function* evalBatches(dataset: Dataset, opts: EvalLoaderOptions): AsyncGenerator<EvalBatch> {
  const [start, end] = shardRange(dataset.length, opts.rank ?? 0, opts.worldSize ?? 1);
  const c = dataset.channels;
  const plane = opts.outHeight * opts.outWidth;
  for (let first = start; first < end; first += opts.batchSize) {
    const b = Math.min(opts.batchSize, end - first);
    const indices = Int32Array.from({ length: b }, (_v, row) => first + row);
    const samples = await Promise.all(Array.from(indices, (index) => dataset.get(index)));
    const images = new Float32Array(b * c * plane);
    const labels = new Int32Array(b);
    samples.forEach((sample, row) => {
      const whole = { top: 0, left: 0, height: sample.height, width: sample.width };
      const offset = row * c * plane;
      resizeCropInto(sample.image, sample.width, c, whole, false, opts.outHeight, opts.outWidth, images, offset);
      normalizeInto(images, offset, c, plane, dataset.normalization);
      labels[row] = sample.label;
    });
    yield { images, labels, indices, shape: [b, c, opts.outHeight, opts.outWidth] };
  }
}
