// Whole training runs on WebGPU against the CPU provider: two replicas (real `simclr train` processes, Gloo over
// loopback, the gradient-cache step), resume from a checkpoint, and export. Runs are compared one step after a state
// both share (the initial weights, or the same checkpoint): two float32 trajectories drift apart chaotically within a
// few LARS steps (steps.test.ts), one step does not. Tolerance TOL_GRAD (1e-4 of each tensor's scale) as there.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { latestValid } from '../../trainer/checkpoint/index.js';
import { parseArgs } from '../../trainer/contract/index.js';
import { evalBatches, openDataset } from '../../trainer/data/index.js';
import { createLogger } from '../../trainer/observe/index.js';
import { ENCODER_FILE, checkpointModel } from '../../trainer/train/encoder/export.js';
import { EvalForward } from '../../trainer/train/evaluation/features.js';
import { train } from '../../trainer/train/loop.js';
import { freePort, scriptArgs, spawnRank, type RankResult } from '../dist/helpers.js';
import { DEVICE, DEVICE_FLAGS, TOL_GRAD, deviceOrSkip, maxNormErr, worstOf } from './webgpu.js';

const { engine: gpu, skip } = await deviceOrSkip();
const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-webgpu-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tiny SimCLR run on the synthetic set: ResNet-18 at width 1/16 on 12 px crops, LARS at lr 0.5. */
function flags(uid: string, provider: 'cpu' | typeof DEVICE, batch: number, extra: string[] = []): string[] {
  return [
    '--dataset=synthetic', `--batch-size=${batch}`, '--image-size-override=12', '--width-multiplier=0.0625',
    '--head-latent-size=32', '--nce-size=16', '--optimizer=lars', '--lr=0.5', '--threads=1',
    `--execution-provider=${provider}`, `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`,
    ...(provider === 'cpu' ? [] : DEVICE_FLAGS), ...extra,
  ];
}

/** Worst maxNormErr over every tensor of the newest checkpoints of two runs: weights, buffers, optimizer state. */
async function checkpointErr(uidA: string, uidB: string): Promise<{ name: string; err: number; steps: [number, number] }> {
  const [a, b] = await Promise.all([uidA, uidB].map((u) => latestValid(join(dir, 'models', u))));
  assert.ok(a && b, 'both runs wrote a checkpoint');
  const tensors = (c: typeof a): Map<string, Float32Array> => new Map(
    [...Object.entries(c.weights), ...Object.entries(c.optimizer).map(([k, v]) => [`optimizer/${k}`, v] as const)].map(([k, v]) => [k, v.data as Float32Array]),
  );
  return { ...worstOf(tensors(a), tensors(b)), steps: [a.step, b.step] };
}

async function runRanks(uid: string, provider: 'cpu' | typeof DEVICE, worldSize: number, extra: string[]): Promise<RankResult[]> {
  const port = await freePort();
  return Promise.all(Array.from({ length: worldSize }, (_v, rank) => spawnRank(CLI, {
    rank,
    env: { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
    args: ['train', ...flags(uid, provider, 8 * worldSize, extra)],
    killAfterMs: 240_000,
  }).done));
}

// Two CUDA ranks would share the machine's one GPU, which NCCL refuses.
test('two replicas on WebGPU (processes, Gloo, gradient-cache step) take the step two CPU replicas take', { skip: DEVICE === 'webgpu' ? skip : 'WebGPU only', timeout: 300_000 }, async (t) => {
  const [onGpu, onCpu] = [await runRanks('replicas-webgpu', 'webgpu', 2, ['--max-steps=1']), await runRanks('replicas-cpu', 'cpu', 2, ['--max-steps=1'])];
  for (const r of [...onGpu, ...onCpu]) assert.equal(r.exitCode, 0, `rank ${r.rank} exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
  for (const r of onGpu) assert.equal(r.report?.msg, 'stopped at the step limit', `rank ${r.rank} stopped by itself`);
  const d = await checkpointErr('replicas-webgpu', 'replicas-cpu');
  t.diagnostic(`after 1 step, worst tensor ${d.name}: ${d.err.toExponential(2)} of its scale`);
  assert.deepEqual(d.steps, [1, 1]);
  assert.ok(d.err <= TOL_GRAD, `${d.name}: ${d.err}`);
});

test('resume on the device from a checkpoint takes the step the CPU takes from it; the exported encoder gives WebGPU\'s h', { skip, timeout: 300_000 }, async (t) => {
  const logs: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => logs.push(s) }, pretty: false, level: 'info' });
  await train(parseArgs(flags('resume-webgpu', DEVICE, 8, ['--checkpoint-every=1'])), { stopAfterStep: 1, logger });
  await cp(join(dir, 'models', 'resume-webgpu'), join(dir, 'models', 'resume-cpu'), { recursive: true });
  const resumed = await train(parseArgs(flags('resume-webgpu', DEVICE, 8, ['--resume', '--max-steps=2'])), { logger });
  await train(parseArgs(flags('resume-cpu', 'cpu', 8, ['--resume', '--max-steps=2'])), { logger });
  const records = logs.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const uid of ['resume-webgpu', 'resume-cpu']) {
    assert.ok(records.some((r) => r['msg'] === 'resumed' && r['step'] === 1 && String(r['checkpoint']).includes(`/${uid}/`)), `${uid} resumed at step 1`);
  }
  const d = await checkpointErr('resume-webgpu', 'resume-cpu');
  t.diagnostic(`step 2 from the step-1 checkpoint, worst tensor ${d.name}: ${d.err.toExponential(2)} of its scale`);
  assert.deepEqual(d.steps, [2, 2]);
  assert.ok(d.err <= TOL_GRAD, `${d.name}: ${d.err}`);

  // Export (written at the step limit): the encoder file on ORT's CPU provider against WebGPU's eval-mode h.
  const ckpt = await latestValid(join(dir, 'models', 'resume-webgpu'));
  const model = checkpointModel(ckpt!).model;
  const images = await openDataset({ name: 'synthetic' }, 'test');
  const forward = EvalForward.create(gpu!, { model, batchSize: 4, height: 12, width: 12 });
  const want = await forward.features(images, resumed.store, 4);
  const session = await ort.InferenceSession.create(join(dir, 'models', 'resume-webgpu', ENCODER_FILE));
  const first = await evalBatches(images, { batchSize: 4, outHeight: 12, outWidth: 12 })[Symbol.asyncIterator]().next();
  const h = (await session.run({ x: new ort.Tensor('float32', first.value!.images, [4, 1, 12, 12]) })).h!.data as Float32Array;
  await session.release();
  const err = maxNormErr(h, want.h);
  t.diagnostic(`exported encoder (CPU) vs WebGPU eval forward: ${err.toExponential(2)} of max |h|`);
  assert.ok(err <= TOL_GRAD, `h: ${err}`);
});
