// The optional native image kernels (native/src/image, built with the Gloo addon by `npm run build:native`).
// They reproduce the JS kernels in resample.ts and blur.ts bit for bit, several times faster; when the addon is
// not built the JS kernels run instead, so batches are the same either way. SIMCLR_IMAGE_KERNELS=js forces JS.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { addonCandidates } from '../platform/addon-path.js';

export interface NativeImageKernels {
  resampleCrop(
    src: Uint8Array, srcW: number, channels: number, top: number, left: number, boxH: number, boxW: number,
    xIndex: Int32Array, xWeight: Float64Array, xTaps: number,
    yIndex: Int32Array, yWeight: Float64Array, yTaps: number,
    out: Float32Array, offset: number,
  ): void;
  gaussianBlur(img: Float32Array, offset: number, channels: number, height: number, width: number, weights: Float32Array): void;
}

let cached: NativeImageKernels | null | undefined;

/** The addon's kernels, or undefined (JS kernels) when it is not built, does not load, or JS is forced. */
export function nativeImageKernels(): NativeImageKernels | undefined {
  if (cached === undefined) cached = load();
  return cached ?? undefined;
}

function load(): NativeImageKernels | null {
  if (process.env.SIMCLR_IMAGE_KERNELS === 'js') return null;
  const path = addonCandidates('simclr_image.node', 'SIMCLR_IMAGE_ADDON').find((p) => existsSync(p));
  if (path === undefined) return null;
  try {
    return createRequire(import.meta.url)(path) as NativeImageKernels;
  } catch (err) {
    // Still correct without it, only slower: say so once rather than fail a run.
    process.emitWarning(`image kernels at ${path} do not load (${(err as Error).message}); using the JS kernels`);
    return null;
  }
}
