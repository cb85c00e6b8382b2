// The optional native image kernels (native/src/image, simclr_image.node, built with the Gloo addon by
// `npm run build:native`).
// They reproduce the JS kernels of trainer/data (resample.ts, blur.ts) bit for bit, several times faster; when the addon is
// not built the JS kernels run instead, so batches are the same either way. SIMCLR_IMAGE_KERNELS=js forces JS.
import { AddonError, requireAddon, type AddonSpec } from './addons.js';

export interface NativeImageKernels {
  resampleCrop(
    src: Uint8Array, srcW: number, channels: number, top: number, left: number, boxH: number, boxW: number,
    xIndex: Int32Array, xWeight: Float64Array, xTaps: number,
    yIndex: Int32Array, yWeight: Float64Array, yTaps: number,
    out: Float32Array, offset: number,
  ): void;
  gaussianBlur(img: Float32Array, offset: number, channels: number, height: number, width: number, weights: Float32Array): void;
}

const IMAGE: AddonSpec = { file: 'simclr_image.node', envVar: 'SIMCLR_IMAGE_ADDON', buildHint: 'run `npm run build:native`' };

let cached: NativeImageKernels | null | undefined;

/** The addon's kernels, or undefined (JS kernels) when it is not built, does not load, or JS is forced. */
export function imageKernels(): NativeImageKernels | undefined {
  if (cached === undefined) cached = load();
  return cached ?? undefined;
}

function load(): NativeImageKernels | null {
  if (process.env.SIMCLR_IMAGE_KERNELS === 'js') return null;
  try {
    return requireAddon<NativeImageKernels>(IMAGE);
  } catch (err) {
    if (!(err instanceof AddonError) || err.code === 'ADDON_MISSING') return null;
    // Still correct without it, only slower: say so once rather than fail a run.
    process.emitWarning(`${err.message}; using the JS image kernels`);
    return null;
  }
}
