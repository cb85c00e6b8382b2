import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { LaunchUsageError, parseLaunchArgs } from './launch.js';

const MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url));
const NODE_FLAGS = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];

function simclr(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('launch flags: --nproc is required and checked; train flags pass through untouched', () => {
  assert.deepEqual(parseLaunchArgs(['--nproc=2', 'train', '--batch-size=64']), { nproc: 2, masterPort: undefined, trainArgs: ['--batch-size=64'] });
  assert.deepEqual(parseLaunchArgs(['--nproc', '3', '--master-port', '29555', 'train']), { nproc: 3, masterPort: 29555, trainArgs: [] });
  assert.throws(() => parseLaunchArgs(['train']), (e) => e instanceof LaunchUsageError && /--nproc is required/.test(e.message));
  assert.throws(() => parseLaunchArgs(['--nproc=0', 'train']), /--nproc=0 is not valid/);
  assert.throws(() => parseLaunchArgs(['--nproc=2']), /needs the train command/);
  assert.throws(() => parseLaunchArgs(['--threads=2', 'train']), /unknown flag --threads/);
});

test('launch --nproc=2 trains as two replicas: one job, rank 0 writes the only checkpoint and event file', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'simclr-launch-'));
  try {
    const r = simclr([
      'launch', '--nproc=2', 'train', '--dataset=synthetic', '--arch=resnet18', '--width-multiplier=0.0625',
      '--image-size-override=12', '--batch-size=32', '--epochs=1', '--max-steps=3', '--threads=1', '--uid=two',
      `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const logs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(logs.every((l) => l.rank === undefined || l.rank === 0), 'stdout carries rank 0 logs only');
    assert.equal(logs.find((l) => l.msg === 'training')?.replicas, 2);
    assert.equal(logs.at(-1)?.msg, 'stopped at the step limit');
    assert.deepEqual(await readdir(join(dir, 'models', 'two')), ['encoder.onnx', 'step-0000000003.json', 'step-0000000003.safetensors']);
    assert.equal((await readdir(join(dir, 'runs', 'two'))).length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a replica that fails makes launch fail with its exit code (a bad flag: 2, one line per replica)', { timeout: 60_000 }, () => {
  const r = simclr(['launch', '--nproc=2', 'train', '--batch-size=31']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--batch-size=31 is not divisible by --num-replicas=2/);
  assert.equal(simclr(['launch', '--nproc=x', 'train']).status, 2);
});
