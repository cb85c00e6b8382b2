// The device engine for tests, and how they compare its results with the CPU provider's. The device is WebGPU, or
// CUDA where SIMCLR_TEST_PROVIDER=cuda (bench/gpu/run.sh, on a GPU machine; TF32 off, so float32 is compared with
// float32). `make test` runs test/webgpu with lavapipe's VK_DRIVER_FILES and LD_LIBRARY_PATH set
// (scripts/lavapipe.sh). Run alone without them, the tests are skipped with that fix; under CI=true an engine that
// cannot load fails them.
import { createSyntheticDataset } from '../../trainer/data/index.js';
import { Engine, ProviderUnavailableError } from '../../trainer/engine/index.js';
import type { StepBatch } from '../../trainer/train/step.js';

/**
 * Both providers compute in float32 with different summation orders (and different forms of the same gradients), so
 * they differ by accumulated rounding. TOL_GRAD, for a tensor (maxNormErr), is what the JAX fixtures allow our CPU
 * gradients against float64 (test/model-gradients.test.ts); measured on lavapipe: gradients 1.3e-5 .. 4.7e-5, BN
 * statistics and logits ~2e-6. TOL_LOSS, relative, for scalar losses: measured 1e-7 .. 1.2e-6.
 */
export const TOL_GRAD = 1e-4;
export const TOL_LOSS = 1e-5;

/** The provider under test. */
export const DEVICE: 'webgpu' | 'cuda' = process.env['SIMCLR_TEST_PROVIDER'] === 'cuda' ? 'cuda' : 'webgpu';

/** Extra trainer flags for DEVICE (exact float32 math on CUDA). */
export const DEVICE_FLAGS: readonly string[] = DEVICE === 'cuda' ? ['--no-cuda-tf32'] : [];

export interface DeviceOrSkip {
  engine: Engine | undefined;
  /** The reason to skip (node:test's `skip` option), or false. */
  skip: string | false;
}

export async function deviceOrSkip(): Promise<DeviceOrSkip> {
  try {
    return { engine: await Engine.create({ provider: DEVICE, threads: 2, ...(DEVICE === 'cuda' ? { cuda: { tf32: false } } : {}) }), skip: false };
  } catch (e) {
    if (!(e instanceof ProviderUnavailableError) || process.env['CI'] === 'true') throw e;
    const setup = DEVICE === 'cuda' ? 'bench/gpu/run.sh runs these on a GPU machine' : 'make test sets it up: source "$(scripts/lavapipe.sh)/env.sh"';
    return { engine: undefined, skip: `${e.message.split('. Fix:')[0]}; ${setup}` };
  }
}

/** max_i |a_i - b_i| / max_i |b_i|: one float32 rounding budget for a whole tensor, robust to its zeros. */
export function maxNormErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale > 0 ? diff / scale : diff;
}

/** The worst maxNormErr over named tensors, and which tensor it was. */
export function worstOf(a: ReadonlyMap<string, ArrayLike<number>>, b: ReadonlyMap<string, ArrayLike<number>>): { name: string; err: number } {
  let worst = { name: '', err: 0 };
  for (const [name, want] of b) {
    const got = a.get(name);
    if (got === undefined) throw new Error(`no tensor ${name}`);
    const err = maxNormErr(got, want);
    if (err >= worst.err) worst = { name, err };
  }
  return worst;
}

/** A fixed batch of two "views" of synthetic images (1 channel): the images, and a scaled, rippled copy of them. */
export function syntheticBatch(seed: number, batch: number, size: number, classes: number): StepBatch {
  const ds = createSyntheticDataset({ split: 'train', length: batch, seed, numClasses: classes, size, channels: 1 });
  const view1 = new Float32Array(batch * size * size);
  const view2 = new Float32Array(batch * size * size);
  const labels = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    const s = ds.getSync(i);
    labels[i] = s.label;
    for (let j = 0; j < size * size; j++) {
      const v = s.image[j]! / 255 - 0.5;
      view1[i * size * size + j] = v;
      view2[i * size * size + j] = v * 0.9 + 0.05 * Math.sin(7 * j + i);
    }
  }
  return { view1, view2, labels };
}
