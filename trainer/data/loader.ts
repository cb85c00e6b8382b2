// Batches for training (two augmented views) and evaluation (no augmentation), as NCHW float32.
//
// Determinism by construction, independent of world size and of where a run resumed:
// - the epoch's permutation depends only on (seed, epoch), so every rank computes the same one;
// - global batch b is perm[b*G, (b+1)*G); rank r takes the slice [r*L, (r+1)*L), L = G / worldSize;
// - each sample's augmentation RNG depends only on (seed, epoch, position in the permutation).
// So the union of all ranks' batches equals the single-process batch, and batch (epoch, step) can be
// rebuilt on resume from the config alone, without saving loader state.
// Loading is async (Dataset.get): a batch's samples are requested together, and epoch() prepares up to
// `prefetch` batches ahead while the caller awaits its training step (ONNX Runtime runs off the JS thread).
// With `workers` > 0, worker threads decode and augment the rows (see pool.ts); batches are bit-identical
// to the main-thread path for any worker count, because each row's RNG is keyed as above.
import { centreCropBox, normalizeInto, type AugmentParams } from './augment.js';
import { resizeCropInto } from './resample.js';
import type { Dataset } from './dataset.js';
import { AugmentPool } from './pool.js';
import { Rng, hashInts } from './rng.js';
import { writeViews } from './views.js';
import { DataError } from './errors.js';

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
  /**
   * Worker threads that decode and augment (--workers-per-replica); 0 (default) = on the main thread.
   * Needs a data set from openDataset (its `origin` tells each worker how to open its own copy).
   */
  workers?: number;
  /** Batches epoch() prepares ahead of the one in use; bounds memory (default 1, at least 1). */
  prefetch?: number;
  /** Where workers report data set warnings (unreadable images); default one line on stderr. */
  onWarning?: (message: string) => void;
}

const PERMUTATION_SALT = 0x7065726d;

export class ContrastiveLoader {
  readonly stepsPerEpoch: number;
  readonly localBatchSize: number;
  readonly shape: Nchw;
  private readonly rank: number;
  private cachedPermutation: { epoch: number; perm: Int32Array } | undefined;
  private pool: AugmentPool | undefined;

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
      // The data and --batch-size disagree: a user's error (exit 2, one line), not the loader's.
      throw new DataError(
        `${dataset.name}/${dataset.split} has ${dataset.length} images, fewer than one batch of ${opts.globalBatchSize}: ` +
          `lower --batch-size to at most ${dataset.length}, or add images under --data-dir`,
      );
    }
    this.localBatchSize = opts.globalBatchSize / worldSize;
    this.shape = [this.localBatchSize, dataset.channels, opts.augment.outHeight, opts.augment.outWidth];
    const workers = opts.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers ${workers}: use 0 or a positive integer`);
    if (workers > 0 && dataset.origin === undefined) {
      throw new RangeError(`workers ${workers}: ${dataset.name} was not opened with openDataset, so workers cannot open it; use workers 0`);
    }
    const prefetch = opts.prefetch ?? 1;
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new RangeError(`prefetch ${prefetch}: use a positive integer`);
  }

  /** Ends the worker threads, if any (idle workers never keep the process alive, so this is tidiness). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  private workerPool(): AugmentPool | undefined {
    const workers = this.opts.workers ?? 0;
    if (workers === 0 || this.dataset.origin === undefined) return undefined;
    const warn = this.opts.onWarning ?? ((m: string): void => void process.stderr.write(`${m}\n`));
    this.pool ??= new AugmentPool(workers, { origin: this.dataset.origin, seed: this.opts.seed, augment: this.opts.augment }, warn);
    return this.pool;
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
    const b = this.localBatchSize;
    const first = step * this.opts.globalBatchSize + this.rank * b;
    const indices = perm.slice(first, first + b);
    const pool = this.workerPool();
    const { view1, view2, labels } = pool === undefined ? await this.augmentHere(epoch, first, indices) : await this.augmentInPool(pool, epoch, first, indices);
    return { view1, view2, labels, indices, shape: this.shape, epoch, step };
  }

  private async augmentHere(epoch: number, first: number, indices: Int32Array): Promise<Views> {
    const [b, c, h, w] = this.shape;
    const samples = await Promise.all(Array.from(indices, (index) => this.dataset.get(index)));
    const imageSize = c * h * w;
    const view1 = new Float32Array(b * imageSize);
    const view2 = new Float32Array(b * imageSize);
    const labels = new Int32Array(b);
    samples.forEach((sample, row) => {
      // One stream per sample, keyed by its position in the epoch: independent of rank and world size.
      writeViews(this.opts.seed, epoch, first + row, sample, c, this.opts.augment, view1, view2, row * imageSize);
      labels[row] = sample.label;
    });
    return { view1, view2, labels };
  }

  private async augmentInPool(pool: AugmentPool, epoch: number, first: number, indices: Int32Array): Promise<Views> {
    const bytes = this.shape.reduce((a, d) => a * d, 4);
    const shared1 = new SharedArrayBuffer(bytes);
    const shared2 = new SharedArrayBuffer(bytes);
    const labels = await pool.fill(epoch, first, indices, shared1, shared2);
    // Plain copies: ONNX Runtime's binding reads ArrayBuffers, not SharedArrayBuffers (a memcpy per batch).
    const view1 = new Float32Array(bytes / 4);
    const view2 = new Float32Array(bytes / 4);
    view1.set(new Float32Array(shared1));
    view2.set(new Float32Array(shared2));
    return { view1, view2, labels };
  }

  /** Batches of one epoch from `startStep` on, up to `prefetch` of them prepared while one is in use. */
  async *epoch(epoch: number, startStep = 0): AsyncGenerator<ContrastiveBatch> {
    const ahead = this.opts.prefetch ?? 1;
    const queue: Promise<ContrastiveBatch>[] = [];
    let nextStep = startStep;
    const fill = (): void => {
      while (queue.length < ahead && nextStep < this.stepsPerEpoch) {
        const p = this.batch(epoch, nextStep++);
        // Handled now, thrown when awaited: a prefetch that fails after the caller stopped iterating (without
        // return(), or because close() ended the workers) must not become an unhandled rejection.
        p.catch(() => undefined);
        queue.push(p);
      }
    };
    fill();
    while (queue.length > 0) {
      const current = await queue[0];
      queue.shift();
      fill();
      yield current;
    }
  }
}

interface Views {
  view1: Float32Array;
  view2: Float32Array;
  labels: Int32Array;
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

/**
 * Every image of this rank's shard once, in order, centre-cropped to the output's aspect ratio, resized and
 * normalised; no drop_last. (Square sources into a square output use the whole image.)
 */
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
      const box = centreCropBox(sample.height, sample.width, opts.outHeight, opts.outWidth);
      const offset = row * c * plane;
      resizeCropInto(sample.image, sample.width, c, box, false, opts.outHeight, opts.outWidth, images, offset);
      normalizeInto(images, offset, c, plane, dataset.normalization);
      labels[row] = sample.label;
    });
    yield { images, labels, indices, shape: [b, c, opts.outHeight, opts.outWidth] };
  }
}
