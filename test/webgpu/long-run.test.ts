// A device run long enough for JS's garbage collector to free device tensors while other sessions run: two epochs
// of the synthetic set (64 steps) as a real `simclr train` process. ORT's WebGPU provider does not lock its buffer
// manager, so frees from the JS thread during a worker thread's run corrupted the heap ("double free or corruption",
// 3 of 3 such runs before native/ort/src/device.rs serialized them). The process must end by itself, exit 0.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { scriptArgs, spawnRank } from '../dist/helpers.js';
import { DEVICE, DEVICE_FLAGS, deviceOrSkip } from './webgpu.js';

const { skip } = await deviceOrSkip();
const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-long-run-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('two epochs on the device end cleanly: device tensors freed by the GC never race a run', { skip, timeout: 300_000 }, async () => {
  const run = await spawnRank(CLI, {
    rank: 0,
    env: {},
    args: [
      'train', '--dataset=synthetic', '--batch-size=64', '--image-size-override=12', '--width-multiplier=0.0625',
      '--head-latent-size=32', '--nce-size=16', '--optimizer=lars', '--lr=0.5', '--epochs=2', '--threads=1',
      `--execution-provider=${DEVICE}`, ...DEVICE_FLAGS, '--uid=long', `--model-dir=${join(dir, 'models')}`,
      `--log-dir=${join(dir, 'runs')}`, '--log-level=warn',
    ],
    killAfterMs: 280_000,
  }).done;
  assert.equal(run.signal, null, `killed by ${run.signal}: ${run.stderr.slice(-1000)}`);
  assert.equal(run.exitCode, 0, run.stderr.slice(-1000));
});
