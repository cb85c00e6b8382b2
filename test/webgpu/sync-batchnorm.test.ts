// Synchronized BatchNorm on the device: its graphs sum the statistics across replicas with an operator that runs on
// the host (ORT copies the few floats across), so a device session with collectives lets ORT place nodes on the CPU,
// and the native backend then refuses any host node other than those operators (the fallback stays loud). The
// training comparison caught a WebGPU fault: without the operator's shape inference ORT knew no shape below the sum,
// and WebGPU's BatchNormalization then scaled a [N, C] input's channels in the wrong places (0.055 apart here).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, NoDeviceKernelError } from '../../trainer/engine/index.js';
import { Graph, op } from '../../trainer/graph/index.js';
import { glooAddonPath } from '../../trainer/native/index.js';
import { checkpointsApart, runRankProcesses, scriptArgs } from '../dist/helpers.js';
import { DEVICE, DEVICE_FLAGS, deviceOrSkip } from './webgpu.js';

const { skip } = await deviceOrSkip();
const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-sync-bn-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a device graph with collectives compiles with only them on the host; any other host node is refused, named', { skip }, async () => {
  // Compiling places the nodes; no run, so the group need not exist.
  const engine = await Engine.create({ provider: DEVICE, threads: 1, collectives: { addon: glooAddonPath(), group: 0 } });
  const ok = new Graph('collective_ok', DEVICE);
  ok.output('y', op.relu(op.allReduceSum(op.mul(ok.input('x', [4]), 2))));
  await (await engine.compile(ok)).release();

  const bad = new Graph('collective_int64', DEVICE);
  bad.output('y', op.allReduceSum(bad.input('x', [4])));
  bad.output('flat', op.reshape(bad.input('ids', [2, 3], 'int64'), [6]));
  await assert.rejects(engine.compile(bad), (e: Error) => {
    assert.ok(e instanceof NoDeviceKernelError, String(e));
    assert.match(e.message, /^graph collective_int64 cannot run on \w+ without the CPU: 1 node\(s\) with no \w+ kernel: Reshape/);
    return true;
  });
});

test('2 replicas with --convert-to-sync-bn on the device reach the weights of 1 process with the whole batch', { skip, timeout: 300_000 }, async (t) => {
  const run = async (uid: string, worldSize: number, extra: string[]): Promise<void> => {
    const results = await runRankProcesses(CLI, worldSize, () => [
      'train', '--dataset=fashion-mnist', '--arch=resnet18', '--width-multiplier=0.0625', '--image-size-override=12',
      '--head-latent-size=32', '--nce-size=16', '--epochs=1', '--threads=1', '--batch-size=16', '--max-steps=3',
      '--warmup=0', '--lr=0.05', `--execution-provider=${DEVICE}`, ...DEVICE_FLAGS, `--uid=${uid}`,
      `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`, '--log-level=warn', ...extra,
    ], 280_000);
    for (const r of results) assert.equal(r.exitCode, 0, `${uid} rank ${r.rank}: ${r.stderr.slice(-1500)}`);
  };
  await run('single', 1, []);
  await run('synced', 2, ['--convert-to-sync-bn']);
  await run('per-replica', 2, []);
  const synced = await checkpointsApart(join(dir, 'models', 'single'), join(dir, 'models', 'synced'));
  const perReplica = await checkpointsApart(join(dir, 'models', 'single'), join(dir, 'models', 'per-replica'));
  t.diagnostic(`max |single - replicas|: ${synced.max} with --convert-to-sync-bn, ${perReplica.max} without`);
  assert.deepEqual(synced.step, [3, 3]);
  assert.ok(synced.max <= 1e-5, `max |single - synced replicas| = ${synced.max}`);
  assert.ok(perReplica.max > 1e-2, `without the flag the replicas should differ (${perReplica.max})`);
});
