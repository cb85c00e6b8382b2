// --polyak-ema: an exponential moving average of the weights, avg = d avg + (1 - d) w after every optimizer step,
// which evaluation and the exported encoder use instead of the live weights. BatchNorm's running statistics are
// averaged with the same decay: they describe the activations of the weights they were collected under, and the
// averaged weights lag the live ones by about 1 / (1 - d) steps, so their statistics should lag alike (as timm's
// ModelEmaV2 averages every buffer). The average starts from the initial weights rather than from zeros as the seed's
// EMA does (its first 1 / (1 - d) steps evaluate a model shrunk towards zero).
import type { TensorMap } from '../checkpoint/index.js';
import { ParameterStore } from '../engine/index.js';
import type { ParamSpec } from '../models/index.js';

export class PolyakAverage {
  /** The averaged weights and running statistics, under the model's names (what evaluation reads). */
  readonly store = new ParameterStore();

  /** Starts the average at the weights in `live` (read on the host). */
  constructor(
    readonly decay: number,
    private readonly specs: readonly ParamSpec[],
    live: ParameterStore,
  ) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`Polyak decay ${decay} is not in (0, 1)`);
    for (const s of specs) this.store.set(s.name, s.shape, Float32Array.from(live.require(s.name).data));
  }

  /** One step of the average towards the live weights, read on the host by name. */
  update(live: (name: string) => Float32Array): void {
    const d = this.decay;
    const e = 1 - d;
    for (const s of this.specs) {
      const avg = this.store.require(s.name).data;
      const w = live(s.name);
      for (let i = 0; i < avg.length; i++) avg[i] = d * avg[i] + e * w[i];
    }
  }

  /** The names it averages: every weight and BatchNorm statistic. */
  names(): string[] {
    return this.specs.map((s) => s.name);
  }

  /** What a checkpoint keeps. */
  tensors(): TensorMap {
    const out: Record<string, TensorMap[string]> = {};
    for (const s of this.specs) out[s.name] = { dtype: 'F32', shape: [...s.shape], data: this.store.require(s.name).data };
    return out;
  }

  /** Every array of the average, in spec order (for a broadcast from rank 0). */
  arrays(): Float32Array[] {
    return this.specs.map((s) => this.store.require(s.name).data);
  }
}
