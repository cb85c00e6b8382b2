// A seeded, class-structured synthetic image source for fast tests: every class has a prototype made
// of a few Gaussian blobs (class-specific positions, sizes and per-channel weights); a sample is its
// class prototype, shifted by a few pixels, scaled in intensity, plus pixel noise. Sample i is
// generated from (seed, split, i) on first use, then kept.
import { checkIndex, type InMemoryDataset, type Normalization, type Sample, type FixedSplit } from './dataset.js';
import { Rng, hashInts } from './rng.js';

export interface SyntheticOptions {
  split: FixedSplit;
  length: number;
  seed?: number;
  numClasses?: number;
  size?: number;
  channels?: number;
}

interface Blob {
  cy: number;
  cx: number;
  sigma: number;
  weights: number[];
}

const BLOBS_PER_CLASS = 3;

function classPrototypes(seed: number, numClasses: number, size: number, channels: number): Blob[][] {
  const rng = Rng.fromSeed(hashInts(seed, 0x50524f54));
  return Array.from({ length: numClasses }, () =>
    Array.from({ length: BLOBS_PER_CLASS }, () => ({
      cy: rng.uniform(0.2, 0.8) * size,
      cx: rng.uniform(0.2, 0.8) * size,
      sigma: rng.uniform(0.08, 0.2) * size,
      weights: Array.from({ length: channels }, () => rng.uniform(0.3, 1)),
    })),
  );
}

class SyntheticDataset implements InMemoryDataset {
  readonly name = 'synthetic';
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  readonly length: number;
  readonly split: FixedSplit;
  readonly normalization: Normalization;
  private readonly prototypes: Blob[][];
  private readonly seed: number;
  /** Generated images, kept: a few MB for the default sizes, and epochs after the first are free. */
  private readonly cache = new Map<number, Uint8Array>();

  constructor(opts: SyntheticOptions) {
    this.split = opts.split;
    this.length = opts.length;
    this.seed = opts.seed ?? 0;
    this.numClasses = opts.numClasses ?? 10;
    this.height = this.width = opts.size ?? 28;
    this.channels = opts.channels ?? 1;
    this.normalization = { mean: new Array(this.channels).fill(0.5), std: new Array(this.channels).fill(0.25) };
    this.prototypes = classPrototypes(this.seed, this.numClasses, this.height, this.channels);
  }

  label(i: number): number {
    checkIndex(this, i);
    return i % this.numClasses; // balanced classes
  }

  getSync(i: number): Sample {
    const label = this.label(i);
    let image = this.cache.get(i);
    if (image === undefined) {
      image = this.generate(i, label);
      this.cache.set(i, image);
    }
    return { image, height: this.height, width: this.width, label };
  }

  get(i: number): Promise<Sample> {
    try {
      return Promise.resolve(this.getSync(i));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private generate(i: number, label: number): Uint8Array {
    const rng = Rng.fromHash(hashInts(this.seed, this.split === 'train' ? 1 : 2, i));
    const dy = rng.uniform(-2, 2);
    const dx = rng.uniform(-2, 2);
    const gain = rng.uniform(0.8, 1.2);
    const { height: h, width: w, channels: c } = this;
    // Gaussians are separable: exp(-(y^2 + x^2) / 2s^2) = row factor * column factor.
    const field = new Float32Array(h * w * c);
    for (const b of this.prototypes[label]) {
      const inv = -1 / (2 * b.sigma * b.sigma);
      const rows = Float32Array.from({ length: h }, (_v, y) => Math.exp(inv * (y - b.cy - dy) ** 2));
      const cols = Float32Array.from({ length: w }, (_v, x) => Math.exp(inv * (x - b.cx - dx) ** 2));
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const g = rows[y] * cols[x];
          for (let ch = 0; ch < c; ch++) field[(y * w + x) * c + ch] += b.weights[ch] * g;
        }
      }
    }
    const image = new Uint8Array(h * w * c);
    for (let p = 0; p < image.length; p++) {
      image[p] = Math.max(0, Math.min(255, Math.round(255 * gain * field[p] + 12 * rng.normal())));
    }
    return image;
  }
}

export function createSyntheticDataset(opts: SyntheticOptions): InMemoryDataset {
  if (!Number.isInteger(opts.length) || opts.length < 1) throw new RangeError(`synthetic: length ${opts.length} must be >= 1`);
  return new SyntheticDataset(opts);
}
