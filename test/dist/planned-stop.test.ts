/**
 * Planned stops lose nothing: real `simclr train` ranks on Fashion-MNIST with no periodic checkpoints; one rank gets
 * SIGTERM mid-epoch (as a deleted pod's would), every rank stops at the same step, rank 0 writes that step's
 * checkpoint, and the resumed gang ends bit-identical to a run that was never stopped.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { latestValid } from '../../trainer/checkpoint/index.js';
import { EXIT_STOPPED, TERMINATION_MESSAGE_ENV } from '../../trainer/contract/index.js';
import { freePort, rankEnv, scriptArgs, spawnRank, type RankProcess, type RankResult } from './helpers.js';

const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');
const WORLD = 2;
const MAX_STEPS = 10;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-planned-stop-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** --checkpoint-every=0: only the stop itself can leave a checkpoint mid-epoch (3750 steps of 16 per epoch). */
const flags = (uid: string, extra: string[] = []): string[] => [
  'train', '--dataset=fashion-mnist', '--arch=resnet18', '--width-multiplier=0.0625', '--image-size-override=12',
  '--head-latent-size=32', '--nce-size=16', '--epochs=1', '--threads=1', '--batch-size=16', '--checkpoint-every=0',
  `--max-steps=${MAX_STEPS}`, '--log-level=debug', `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`,
  `--log-dir=${join(dir, 'runs')}`, ...extra,
];

async function startGang(uid: string, extra: string[] = []): Promise<RankProcess[]> {
  const port = await freePort();
  return Array.from({ length: WORLD }, (_v, rank) => spawnRank(CLI, {
    rank,
    env: rankEnv(rank, WORLD, port, { [TERMINATION_MESSAGE_ENV]: join(dir, `${uid}-${rank}.msg`) }),
    args: flags(uid, extra),
    killAfterMs: 150_000,
  }));
}

/** Resolves once `child` has logged `n` steps. */
function afterSteps(child: ChildProcess, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if ((seen.match(/"msg":"step"/g) ?? []).length >= n) resolve();
    });
  });
}

/** Highest step any rank logged as done (pino debug `step` records). */
const lastLoggedStep = (results: RankResult[]): number =>
  Math.max(...results.flatMap((r) => r.stdoutLines.map((l) => JSON.parse(l) as { msg?: string; step?: number })
    .filter((l) => l.msg === 'step').map((l) => l.step ?? -1)));

async function maxDistance(uidA: string, uidB: string): Promise<{ max: number; step: [number, number] }> {
  const [a, b] = await Promise.all([uidA, uidB].map((u) => latestValid(join(dir, 'models', u))));
  assert.ok(a && b, 'both runs wrote a checkpoint');
  let max = 0;
  for (const [part, other] of [[a.weights, b.weights], [a.optimizer, b.optimizer]] as const) {
    for (const [name, t] of Object.entries(part)) {
      const x = t.data as Float32Array;
      const y = other[name]!.data as Float32Array;
      for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
    }
  }
  return { max, step: [a.step, b.step] };
}

test('SIGTERM to one rank mid-epoch: every rank stops at the same step, rank 0 checkpoints it, 0 steps lost, ' +
  'and the resumed gang ends where an unstopped one does', { timeout: 300_000 }, async (t) => {
  const straight = await startGang('straight');
  const stopped = await startGang('stopped');
  // Rank 1 (not the one that writes checkpoints) is told to stop once the gang is a few steps in.
  await afterSteps(stopped[1]!.child, 3);
  stopped[1]!.child.kill('SIGTERM');
  const results = await Promise.all(stopped.map((r) => r.done));
  for (const r of results) {
    assert.equal(r.signal, null, `rank ${r.rank} ended by itself`);
    assert.equal(r.exitCode, EXIT_STOPPED, `rank ${r.rank} exit ${r.exitCode}: ${r.stderr.slice(-1500)}`);
    assert.match(await readFile(join(dir, `stopped-${r.rank}.msg`), 'utf8'), /^simclr train: stopped on request at step \d+/);
  }
  const done = lastLoggedStep(results);
  const ckpt = await latestValid(join(dir, 'models', 'stopped'));
  assert.ok(ckpt, 'rank 0 wrote a checkpoint on the stop');
  t.diagnostic(`stopped at step ${ckpt.step}; the ranks had logged up to step ${done}`);
  assert.ok(ckpt.step >= 3 && ckpt.step < MAX_STEPS, `stopped mid-run (step ${ckpt.step})`);
  assert.equal(done - ckpt.step, 0, 'steps lost');
  for (const r of results) {
    assert.match(r.stderr, new RegExp(`stopped on request at step ${ckpt.step},`), `rank ${r.rank} stopped at the same step`);
  }

  const resumed = await Promise.all((await startGang('stopped', ['--resume'])).map((r) => r.done));
  for (const r of [...resumed, ...(await Promise.all(straight.map((s) => s.done)))]) {
    assert.equal(r.exitCode, 0, `rank ${r.rank}: ${r.stderr.slice(-1500)}`);
  }
  assert.ok(resumed[0]!.stdoutLines.some((l) => l.includes('"msg":"resumed"') && l.includes(`"step":${ckpt.step}`)));
  const d = await maxDistance('straight', 'stopped');
  assert.deepEqual(d.step, [MAX_STEPS, MAX_STEPS]);
  assert.equal(d.max, 0, 'stop + resume is exact on CPU: no step lost or repeated');
});
