// Test fixture for store.test.ts: writes checkpoints step 1, 2, 3, ... into argv[2] forever, each tensor
// filled with its step number, printing "saved <step>" after each; the test SIGKILLs it mid-write.
import { saveCheckpoint } from './store.js';

const dir = process.argv[2];
const elements = 2 * 1024 * 1024; // 8 MB per checkpoint: long enough for a kill to land mid-write
for (let step = 1; ; step++) {
  const data = new Float32Array(elements).fill(step);
  await saveCheckpoint(dir, { step, epoch: 0, weights: { w: { dtype: 'F32', shape: [elements], data } }, optimizer: {}, rng: [step, 0, 0, 1], config: {} }, { keep: 2 });
  process.stdout.write(`saved ${step}\n`);
}
