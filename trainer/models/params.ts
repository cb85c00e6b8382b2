// Parameter specs and their seeded initialisation (PyTorch's defaults):
//   conv: kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (out_channels * kh * kw))
//   BatchNorm: gamma = 1, beta = 0; running_mean = 0, running_var = 1
//   Linear: weight and bias uniform in +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5) reduces to that)
import { Rng, hashInts } from '../data/rng.js';
import { sizeOf } from '../graph/index.js';

export type Init =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'constant'; readonly value: number };

export interface ParamSpec {
  /** torchvision-style dotted name, e.g. `layer1.0.conv1.weight`, `layer1.0.bn1.running_mean`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
  /** BatchNorm running statistics: not trained, updated from batch statistics with momentum. */
  readonly isBuffer: boolean;
  /** Biases and BatchNorm gamma/beta (and buffers): LARS excludes these from weight decay and trust scaling. */
  readonly isOneD: boolean;
}

function nameHash(name: string): number[] {
  return Array.from(name, (c) => c.charCodeAt(0));
}

/**
 * Draws every parameter and buffer. Each tensor has its own stream, derived from (seed, name), so adding or
 * reordering parameters does not change the others.
 */
export function initParameters(specs: readonly ParamSpec[], seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    if (out.has(s.name)) throw new Error(`initParameters: duplicate parameter '${s.name}'`);
    const data = new Float32Array(sizeOf(s.shape));
    const init = s.init;
    if (init.kind === 'constant') {
      data.fill(init.value);
    } else {
      const rng = Rng.fromSeed(hashInts(seed, ...nameHash(s.name)));
      if (init.kind === 'normal') for (let i = 0; i < data.length; i++) data[i] = init.std * rng.normal();
      else for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-init.bound, init.bound);
    }
    out.set(s.name, data);
  }
  return out;
}

/** The trainable ones (not buffers). */
export function trainable(specs: readonly ParamSpec[]): ParamSpec[] {
  return specs.filter((s) => !s.isBuffer);
}
