// The augmentation's two costly kernels, native (native/src/image) against their JS reference, same run, same
// inputs (outputs are bit-identical: trainer/data/native-kernels.test.ts). 224 px RGB, SimCLR's blur (23 taps,
// truncated at 4 sigma) and the crops RandomResizedCrop produces (up- and downscaling).
// Usage: npx tsx bench/image-kernels.ts [--reps 50]
import { parseArgs } from 'node:util';
import { gaussianBlurJs, gaussianWeights } from '../trainer/data/blur.js';
import { imageKernels } from '../trainer/native/index.js';
import { resampleAxis, resampleCropJs } from '../trainer/data/resample.js';
import { Rng } from '../trainer/data/rng.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '50' } } });
const REPS = Number(values.reps);
const native = imageKernels();
if (native === undefined) throw new Error('the image addon is not built: run `npm run build:native`');

/** Median CPU milliseconds per call over REPS calls (after 3 warm-up calls). */
function cpuMs(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1e3);
  }
  return times.sort((a, b) => a - b)[REPS >> 1];
}

const side = 224;
const rng = Rng.fromSeed(1);
const src = Uint8Array.from({ length: 4 * side * 4 * side * 3 }, () => rng.int(256)); // up to a 4x shrink
const out = new Float32Array(3 * side * side);
const row = (name: string, js: number, nat: number): void =>
  console.log(`${name.padEnd(34)} js ${js.toFixed(2).padStart(6)} ms   native ${nat.toFixed(2).padStart(5)} ms   ${(js / nat).toFixed(1)}x`);

console.log(`CPU ms per call (median of ${REPS}), ${side} px RGB output`);
for (const [bh, bw] of [[67, 90], [224, 224], [448, 400], [896, 896]]) {
  const x = resampleAxis(bw, side, true);
  const y = resampleAxis(bh, side);
  const box = { top: 0, left: 0, height: bh, width: bw };
  row(`crop ${bh}x${bw} -> ${side}x${side}`,
    cpuMs(() => resampleCropJs(src, 4 * side, 3, box, x, y, out, 0)),
    cpuMs(() => native.resampleCrop(src, 4 * side, 3, 0, 0, bh, bw, x.index, x.weight, x.taps, y.index, y.weight, y.taps, out, 0)));
}
for (const sigma of [0.5, 1, 2]) {
  const w = gaussianWeights(23, sigma);
  row(`blur sigma ${sigma} (${w.length} taps)`, cpuMs(() => gaussianBlurJs(out, 0, 3, side, side, w)), cpuMs(() => native.gaussianBlur(out, 0, 3, side, side, w)));
}
