// `simclr train --half` on WebGPU (or CUDA: webgpu.ts's DEVICE), whole runs: real rank processes (the gradient-cache step in fp16, Gloo between
// them), the dynamic loss scale from its initial 2^16 down to what this model's float16 backward can take (it
// overflows at 2^16: measured on lavapipe, NaN gradients), the same decisions on every rank, the scale in the checkpoint, and a
// resumed run that continues with it instead of starting over.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { latestValid } from '../../trainer/checkpoint/index.js';
import { parseArgs } from '../../trainer/contract/index.js';
import { createLogger } from '../../trainer/observe/index.js';
import { train } from '../../trainer/train/loop.js';
import type { LossScaleState } from '../../trainer/train/loss-scale.js';
import { freePort, scriptArgs, spawnRank, type RankResult } from '../dist/helpers.js';
import { DEVICE, DEVICE_FLAGS, deviceOrSkip } from './webgpu.js';

const { skip } = await deviceOrSkip();
const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');
const INIT_SCALE = 2 ** 16;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-half-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function flags(uid: string, batch: number, extra: string[] = []): string[] {
  return [
    '--half', `--execution-provider=${DEVICE}`, ...DEVICE_FLAGS, '--dataset=synthetic', `--batch-size=${batch}`, '--image-size-override=12',
    '--width-multiplier=0.0625', '--head-latent-size=32', '--nce-size=16', '--optimizer=lars', '--lr=0.5', '--threads=1',
    `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`, ...extra,
  ];
}

const skipsIn = (lines: readonly string[]): number =>
  lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'fp16 overflow: step skipped, loss scale halved').length;

async function savedScale(uid: string): Promise<{ step: number; lossScale: LossScaleState; weights: Float32Array[] }> {
  const ckpt = await latestValid(join(dir, 'models', uid));
  assert.ok(ckpt, `${uid} wrote a checkpoint`);
  return { step: ckpt.step, lossScale: ckpt.extra?.['lossScale'] as LossScaleState, weights: Object.values(ckpt.weights).map((t) => t.data as Float32Array) };
}

async function twoRanks(extra: string[]): Promise<RankResult[]> {
  const port = await freePort();
  return Promise.all([0, 1].map((rank) => spawnRank(CLI, {
    rank,
    env: { RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
    args: ['train', ...flags('half-2', 16, extra)],
    killAfterMs: 280_000,
  }).done));
}

test('two --half replicas on WebGPU skip the same overflowing steps, and the checkpoint holds the scale they reached', { skip, timeout: 600_000 }, async (t) => {
  const ranks = await twoRanks(['--max-steps=6']);
  for (const r of ranks) assert.equal(r.exitCode, 0, `rank ${r.rank} exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
  const skips = ranks.map((r) => skipsIn(r.stdoutLines));
  t.diagnostic(`skipped steps per rank: ${skips.join(', ')}`);
  assert.equal(skips[0], skips[1], 'the ranks disagree on which steps overflowed');
  assert.ok(skips[0]! >= 1 && skips[0]! < 6, `${skips[0]} of 6 steps skipped`);
  const saved = await savedScale('half-2');
  assert.equal(saved.step, 6);
  // Each skip halved the scale; no run of 2000 good steps grew it.
  assert.deepEqual(saved.lossScale, { scale: INIT_SCALE / 2 ** skips[0]!, goodSteps: 6 - skips[0]! });
  for (const w of saved.weights) assert.ok(w.every(Number.isFinite));

  // Resumed, rank 1 (which never reads the checkpoint) gets rank 0's scale with the weights.
  const resumed = await twoRanks(['--resume', '--max-steps=7']);
  for (const r of resumed) assert.equal(r.exitCode, 0, `rank ${r.rank} exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
  const starts = resumed.map((r) => r.stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => String(x['msg']).startsWith('resumed')));
  assert.deepEqual(starts.map((s) => s?.['lossScale']), [saved.lossScale.scale, saved.lossScale.scale]);
});

test('a resumed --half run continues with the checkpoint\'s loss scale', { skip, timeout: 300_000 }, async () => {
  const logs: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => logs.push(s) }, pretty: false, level: 'info' });
  await train(parseArgs(flags('half-resume', 8, ['--checkpoint-every=1'])), { stopAfterStep: 4, logger });
  const first = await savedScale('half-resume');
  assert.ok(first.lossScale.scale < INIT_SCALE, 'the run overflowed at the initial scale, as measured');
  logs.length = 0;
  await train(parseArgs(flags('half-resume', 8, ['--resume', '--max-steps=6'])), { logger });
  const records = logs.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const resumed = records.find((r) => r['msg'] === 'resumed');
  assert.equal(resumed?.['lossScale'], first.lossScale.scale, 'the resumed run did not start from the saved scale');
  const skips = records.filter((r) => r['msg'] === 'fp16 overflow: step skipped, loss scale halved').length;
  const last = await savedScale('half-resume');
  assert.equal(last.step, 6);
  assert.deepEqual(last.lossScale, { scale: first.lossScale.scale / 2 ** skips, goodSteps: skips > 0 ? 2 - skips : first.lossScale.goodSteps + 2 });
});
