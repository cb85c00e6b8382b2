// --polyak-ema on WebGPU, where the weights live in the provider's memory: the average reads a host copy of them after
// every step (copyToHost). The average must follow its recurrence, and reading the copies must leave training exactly
// as it is without the average (weights and optimizer state).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadCheckpoint, manifestPathOf } from '../../trainer/checkpoint/index.js';
import { parseArgs } from '../../trainer/contract/index.js';
import { createLogger } from '../../trainer/observe/index.js';
import { train } from '../../trainer/train/loop.js';
import { DEVICE, DEVICE_FLAGS, deviceOrSkip } from './webgpu.js';

const { skip } = await deviceOrSkip();

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-webgpu-ema-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet = { logger: createLogger({ destination: { write: () => true }, pretty: false, level: 'warn' }) };
const flags = (uid: string, extra: string[]): string[] => [
  '--dataset=synthetic', '--batch-size=8', '--image-size-override=12', '--width-multiplier=0.0625', '--head-latent-size=32',
  '--nce-size=16', '--optimizer=lars', '--lr=0.5', '--threads=1', `--execution-provider=${DEVICE}`, ...DEVICE_FLAGS, '--max-steps=3',
  '--checkpoint-every=1', `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`, ...extra,
];

test('--polyak-ema on the device: the average follows its recurrence, and training is exactly what it is without it', { skip, timeout: 300_000 }, async () => {
  const d = 0.5;
  await train(parseArgs(flags('ema', [`--polyak-ema=${d}`])), quiet);
  await train(parseArgs(flags('plain', [])), quiet);
  const at = (uid: string, step: number): ReturnType<typeof loadCheckpoint> => loadCheckpoint(manifestPathOf(join(dir, 'models', uid), step));
  const [e2, e3, p3] = await Promise.all([at('ema', 2), at('ema', 3), at('plain', 3)]);
  assert.ok(e2.ema && e3.ema);
  let worst = 0;
  let lag = 0;
  for (const [name, t] of Object.entries(e3.weights)) {
    const w = t.data as Float32Array;
    const avg = e3.ema[name]!.data as Float32Array;
    const prev = e2.ema[name]!.data as Float32Array;
    for (let i = 0; i < w.length; i++) {
      worst = Math.max(worst, Math.abs(avg[i] - (d * prev[i] + (1 - d) * w[i])));
      lag = Math.max(lag, Math.abs(avg[i] - w[i]));
    }
    assert.deepEqual(w, p3.weights[name]!.data, `${name}: the same weights as without the average`);
  }
  for (const [name, t] of Object.entries(p3.optimizer)) assert.deepEqual(e3.optimizer[name]!.data, t.data, `optimizer ${name}`);
  assert.ok(worst <= 1e-6, `the average departs from its recurrence by ${worst}`);
  assert.ok(lag > 1e-3, `the average lags the weights (${lag}): the check is not vacuous`);
});
