/**
 * --early-stop and --polyak-ema across real `simclr train` processes on loopback: every rank takes rank 0's decision
 * and average, so 2 replicas stop, average, evaluate and export as 1 process running the same batch in chunks; a
 * resumed gang continues the average on every rank (rank 1's shard of the evaluation reads its own copy).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { latestValid, loadCheckpoint, manifestPathOf } from '../../trainer/checkpoint/index.js';
import { freePort, runRankProcesses, scriptArgs, spawnRank, tensorsApart, type RankResult } from './helpers.js';

const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-dist-seed-flags-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Synthetic data (2048 train / 512 test images: 32 steps of 64 per epoch), ResNet-18 at width 1/16 on 12 px crops. */
function flags(uid: string, extra: string[]): string[] {
  return ['train', '--dataset=synthetic', '--width-multiplier=0.0625', '--image-size-override=12', '--head-latent-size=32',
    '--nce-size=16', '--batch-size=64', '--knn-k=20', '--lr=0.5', '--warmup=0.25', '--threads=1', `--uid=${uid}`,
    `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`, ...extra];
}

async function runRanks(uid: string, worldSize: number, extra: string[]): Promise<RankResult[]> {
  const results = await runRankProcesses(CLI, worldSize, () => flags(uid, extra), 170_000);
  for (const r of results) assert.equal(r.exitCode, 0, `${uid} rank ${r.rank} exited ${r.exitCode} (${r.signal}): ${r.stderr.slice(-2000)}`);
  return results;
}

const logged = (r: RankResult, msg: string): Record<string, unknown> | undefined =>
  r.stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg);

test('2 replicas with --early-stop and --polyak-ema stop at the same evaluation, keep the same best and average, as 1 process in chunks', { timeout: 180_000 }, async () => {
  const extra = ['--epochs=4', '--early-stop', '--early-stop-patience=1', '--polyak-ema=0.9', '--keep-checkpoints=1'];
  const [single, replicas] = await Promise.all([
    runRanks('es-single', 1, [...extra, '--gradient-cache-chunk=32']),
    runRanks('es-replicas', 2, extra),
  ]);
  const history = async (uid: string): Promise<unknown> => JSON.parse(await readFile(join(dir, 'models', uid, 'early-stop.json'), 'utf8'));
  const want = await history('es-single');
  assert.deepEqual(await history('es-replicas'), want, 'the same kNN top-1 at every evaluation, and the same stop');
  const finished = (r: RankResult): unknown => logged(r, 'training finished')?.step;
  assert.equal(finished(replicas[0]), finished(single[0]));
  assert.equal(finished(replicas[1]), finished(single[0]), 'rank 1 stopped with rank 0');
  const best = await latestValid(join(dir, 'models', 'es-single'));
  const [a, b] = await Promise.all(['es-single', 'es-replicas'].map(async (uid) => {
    const bestStep = (JSON.parse(await readFile(join(dir, 'models', uid, 'early-stop.json'), 'utf8')) as { history: Array<{ step: number; knnTop1: number }> })
      .history.reduce((x, o) => (o.knnTop1 > x.knnTop1 ? o : x)).step;
    return loadCheckpoint(manifestPathOf(join(dir, 'models', uid), bestStep));
  }));
  assert.ok(best && a.ema && b.ema);
  assert.ok(tensorsApart(a.ema, b.ema) <= 1e-5, `the best checkpoints' averages differ by ${tensorsApart(a.ema, b.ema)}`);
  // The final evaluation (of the best checkpoint when it stopped early) is split across ranks: the same numbers.
  const finalEval = (r: RankResult): Record<string, unknown> | undefined =>
    logged(r, 'evaluation of the best checkpoint on the test set') ?? logged(r, 'evaluation on the test set');
  for (const key of ['knnTop1', 'top1', 'probeTop1']) assert.equal(finalEval(replicas[0])?.[key], finalEval(single[0])?.[key], key);
});

test('a resumed gang continues the Polyak average on every rank: the same evaluation as an uninterrupted one', { timeout: 180_000 }, async () => {
  const common = ['--epochs=1', '--polyak-ema=0.9', '--checkpoint-every=16'];
  const [straight] = await Promise.all([
    runRanks('ema-straight', 2, common),
    runRanks('ema-interrupted', 2, [...common, '--max-steps=16']),
  ]);
  const resumed = await runRanks('ema-interrupted', 2, [...common, '--resume']);
  const [s, r] = await Promise.all(['ema-straight', 'ema-interrupted'].map((u) => latestValid(join(dir, 'models', u))));
  assert.ok(s?.ema && r?.ema);
  assert.equal(tensorsApart(s.ema, r.ema), 0, 'rank 0\'s average, from its checkpoint');
  // Rank 1 evaluates its shard with its own copy of the average, which only rank 0's broadcast brings back.
  const evaluation = (x: RankResult): Record<string, unknown> | undefined => logged(x, 'evaluation on the test set');
  for (const key of ['knnTop1', 'knnTop5', 'top1', 'top5', 'probeTop1']) {
    assert.equal(evaluation(resumed[0])?.[key], evaluation(straight[0])?.[key], key);
  }
});

test('the seed README\'s two-node example runs as written (visdom flags aside): two ranks train with synchronized BatchNorm', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const seedCommand = (rank: number): string[] => [
    'train', '--epochs=100', '--data-dir=/usr/share/datasets/fashion-mnist', '--batch-size=128', '--convert-to-sync-bn',
    '--num-replicas=2', '--distributed-master=127.0.0.1', `--distributed-port=${port}`, `--distributed-rank=${rank}`,
    '--uid=simclrv00_0',
  ];
  // Appended to make it a test: one step of a small model, with this test's folders.
  const small = ['--max-steps=1', '--width-multiplier=0.0625', '--image-size-override=12', '--threads=1',
    `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`];
  const results = await Promise.all([0, 1].map((rank) => spawnRank(CLI, { rank, env: {}, args: [...seedCommand(rank), ...small], killAfterMs: 170_000 }).done));
  for (const r of results) {
    assert.equal(r.exitCode, 0, `rank ${r.rank} exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
    const training = logged(r, 'training');
    assert.equal(training?.dataset, 'fashion-mnist', 'inferred from --data-dir');
    assert.equal(training?.replicas, 2);
    assert.equal(training?.batchNorm, 'global-batch');
    assert.equal(logged(r, 'stopped at the step limit')?.step, 1);
  }
});
