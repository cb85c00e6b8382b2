// The two augmented views of one sample, shared by the main-thread loader and its worker threads so both
// produce bit-identical batches: the RNG stream depends only on (seed, epoch, position in the epoch).
import { augmentInto, type AugmentParams } from './augment.js';
import type { Sample } from './dataset.js';
import { Rng, hashInts } from './rng.js';

const AUGMENT_SALT = 0x61756720;

/** Writes views 1 and 2 of `sample` as normalised CHW floats at `offset` of each batch array. */
export function writeViews(
  seed: number,
  epoch: number,
  position: number,
  sample: Sample,
  channels: number,
  params: AugmentParams,
  view1: Float32Array,
  view2: Float32Array,
  offset: number,
): void {
  const rng = Rng.fromHash(hashInts(seed, epoch, position, AUGMENT_SALT));
  augmentInto(rng, sample.image, sample.height, sample.width, channels, params, view1, offset);
  augmentInto(rng, sample.image, sample.height, sample.width, channels, params, view2, offset);
}
