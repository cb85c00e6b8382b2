/**
 * The distributed trainer end to end, with real `simclr train` processes talking over loopback on Fashion-MNIST:
 * replicas reach the same weights as one process running the same global batch in chunks; they resume together from
 * rank 0's checkpoint; a dead replica takes the others down within the collective timeout; rank 0's errors reach
 * every rank.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { latestValid } from '../../trainer/checkpoint/index.js';
import { EXIT_PEER_LOST } from '../../trainer/contract/index.js';
import { Graph } from '../../trainer/graph/index.js';
import { buildSimclrModel, initParameters, type ModelConfig } from '../../trainer/models/index.js';
import { checkpointsApart, freePort, rankEnv, runRankProcesses, scriptArgs, spawnRank, type RankResult } from './helpers.js';

const CLI = scriptArgs(import.meta.url, '../../trainer/cli/main.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-dist-train-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tiny model on real data: 12 px Fashion-MNIST, ResNet-18 at width 1/16, LARS (the SimCLR default). */
function flags(uid: string, extra: string[] = []): string[] {
  return [
    'train',
    ...(extra.some((f) => f.startsWith('--dataset=')) ? [] : ['--dataset=fashion-mnist']),
    '--arch=resnet18',
    '--width-multiplier=0.0625',
    '--image-size-override=12',
    '--head-latent-size=32',
    '--nce-size=16',
    '--epochs=1',
    '--threads=1',
    `--uid=${uid}`,
    `--model-dir=${join(dir, 'models')}`,
    `--log-dir=${join(dir, 'runs')}`,
    ...extra,
  ];
}

function runRanks(uid: string, worldSize: number, extra: string[], timeoutMs = 120_000): Promise<RankResult[]> {
  return runRankProcesses(CLI, worldSize, () => flags(uid, extra), timeoutMs);
}

function assertExitedCleanly(results: RankResult[]): void {
  for (const r of results) assert.equal(r.exitCode, 0, `rank ${r.rank} exited ${r.exitCode} (${r.signal}): ${r.stderr.slice(-2000)}`);
}

/** checkpointsApart for two runs of this file (by uid). */
function checkpointDistance(uidA: string, uidB: string): Promise<{ max: number; step: [number, number] }> {
  return checkpointsApart(join(dir, 'models', uidA), join(dir, 'models', uidB));
}

/**
 * How far training moved the trained parameters (not the BatchNorm running statistics, which move at any lr) from their
 * initial values (the seeded draws train starts from): per tensor the largest |w - w0|; the least, median and most of
 * those over the tensors.
 */
async function movedFromInit(uid: string): Promise<{ leastTensorMove: number; leastTensor: string; medianTensorMove: number; mostTensorMove: number }> {
  const ckpt = await latestValid(join(dir, 'models', uid));
  assert.ok(ckpt, `${uid} wrote a checkpoint`);
  const model = ckpt.extra?.model as ModelConfig;
  const input = ckpt.extra?.input as { inputChannels: number; height: number; width: number };
  const g = new Graph('specs');
  const specs = buildSimclrModel(g, g.input('x', [1, input.inputChannels, input.height, input.width]), model, 'train').params;
  const init = initParameters(specs, 42); // --seed's default
  const moves = specs.filter((x) => !x.isBuffer).map((s) => {
    const w = ckpt.weights[s.name]!.data as Float32Array;
    const w0 = init.get(s.name)!;
    let move = 0;
    for (let i = 0; i < w.length; i++) move = Math.max(move, Math.abs(w[i] - w0[i]));
    return { name: s.name, move };
  }).sort((a, b) => a.move - b.move);
  return {
    leastTensorMove: moves[0]!.move,
    leastTensor: moves[0]!.name,
    medianTensorMove: moves[moves.length >> 1]!.move,
    mostTensorMove: moves.at(-1)!.move,
  };
}

/**
 * What the README claims, measured (bench/README.md, "replica equivalence"). 2 replicas: Gloo's allreduce adds the two
 * shards' gradients as one process adds its two chunks (a + b = b + a in IEEE arithmetic), so every step is
 * bit-identical. 4: the ring adds in another order than one process does, which rounds differently (1 ulp after the
 * first step); this tiny model's training amplifies any such rounding difference, x15 in the second step and x380 in
 * the third (the same with 2 replicas of 2 chunks each, where only the order differs too), so 4 replicas are compared
 * after 2 steps, where the bound (measured 1.8e-6) is still 1e4 times smaller than the median tensor's move.
 */
const EQUIVALENCE = {
  2: { steps: 5, bound: 0 },
  4: { steps: 2, bound: 5e-6 },
} as const;

for (const worldSize of [2, 4] as const) {
  const { steps, bound } = EQUIVALENCE[worldSize];
  test(`${worldSize} replicas x 8 images reach the weights of 1 process x ${8 * worldSize} in chunks of 8, after ${steps} steps that move them`, { timeout: 180_000 }, async (t) => {
    // No warmup, SimCLR's LARS rate (0.3 x batch/256): every step moves the weights. The default 10-epoch warmup kept
    // the lr near 1e-5, where an update is below the rounding of most weights and two runs agree whether or not the
    // replicas compute the same step.
    const batch = [`--batch-size=${8 * worldSize}`, `--max-steps=${steps}`, '--warmup=0', '--lr=0.3'];
    const [single, replicas] = await Promise.all([
      runRanks(`single-${worldSize}`, 1, [...batch, '--gradient-cache-chunk=8']),
      runRanks(`replicas-${worldSize}`, worldSize, batch),
    ]);
    assertExitedCleanly([...single, ...replicas]);
    const d = await checkpointDistance(`single-${worldSize}`, `replicas-${worldSize}`);
    assert.deepEqual(d.step, [steps, steps]);
    const moved = await movedFromInit(`single-${worldSize}`);
    t.diagnostic(`max |single - replicas| over weights and optimizer state: ${d.max}`);
    t.diagnostic(`trained tensors moved by ${moved.leastTensorMove} (${moved.leastTensor}) to ${moved.mostTensorMove}, median ${moved.medianTensorMove}`);
    // The comparison means something only if training moved the weights far beyond the bound and their rounding.
    assert.ok(moved.leastTensorMove > 1e-5, `${moved.leastTensor} moved by only ${moved.leastTensorMove}`);
    assert.ok(moved.medianTensorMove > 1e-2, `median tensor move ${moved.medianTensorMove}`);
    assert.ok(d.max <= bound, `max |single - replicas| = ${d.max}, the README's bound for ${worldSize} replicas: ${bound}`);
    for (const r of replicas) assert.equal(r.report?.msg, 'stopped at the step limit', `rank ${r.rank} stopped by itself`);
    // Only rank 0 writes TensorBoard events (and checkpoints): one event file for the whole job.
    const events = await readdir(join(dir, 'runs', `replicas-${worldSize}`));
    assert.equal(events.filter((f) => f.includes('tfevents')).length, 1, events.join(', '));
  });
}

/**
 * Synchronized BatchNorm (--convert-to-sync-bn): 2 replicas x 8 images normalise with the statistics of all 16 (summed
 * across the replicas inside the forward and backward pass), so they must reach what 1 process with the whole batch
 * in one chunk reaches. Not bit for bit: a sum of two replicas' partial sums rounds differently from one sum over all
 * rows, and this tiny model amplifies rounding at lr 0.3 (x5 a step: 3.8e-7 after 1 step, 1.8e-6 after 2, 1e-5 after
 * 3, 1e-2 after 6, measured), so the steps are at lr 0.05, where 5 steps still move the median tensor by 1e-2
 * (measured max difference 6e-7). Without the flag each replica normalises its own 8 images and the same runs differ by ~1.
 */
test('2 replicas x 8 images with --convert-to-sync-bn reach the weights of 1 process x 16 in one chunk; without it they do not', { timeout: 240_000 }, async (t) => {
  const batch = ['--batch-size=16', '--max-steps=5', '--warmup=0', '--lr=0.05'];
  const [single, synced, perReplica] = await Promise.all([
    runRanks('syncbn-single', 1, batch),
    runRanks('syncbn-replicas', 2, [...batch, '--convert-to-sync-bn']),
    runRanks('syncbn-off', 2, batch),
  ]);
  assertExitedCleanly([...single, ...synced, ...perReplica]);
  for (const r of synced) assert.equal(r.report?.msg, 'stopped at the step limit', `rank ${r.rank} stopped by itself`);
  const moved = await movedFromInit('syncbn-single');
  t.diagnostic(`trained tensors moved by ${moved.leastTensorMove} (${moved.leastTensor}) to ${moved.mostTensorMove}, median ${moved.medianTensorMove}`);
  // The online classifier's weights move least at this lr (~7e-6); the median tensor moves 1000x the bound.
  assert.ok(moved.medianTensorMove > 1e-2, `median tensor move ${moved.medianTensorMove}`);
  const withSync = await checkpointDistance('syncbn-single', 'syncbn-replicas');
  const without = await checkpointDistance('syncbn-single', 'syncbn-off');
  t.diagnostic(`max |single - replicas|: ${withSync.max} with --convert-to-sync-bn, ${without.max} without`);
  assert.deepEqual(withSync.step, [5, 5]);
  assert.ok(withSync.max <= 1e-5, `max |single - synced replicas| = ${withSync.max}`);
  assert.ok(without.max > 1e-2, `per-replica BatchNorm should differ from the global batch's (${without.max}): else this test cannot tell them apart`);
});

test('an epoch on 2 replicas evaluates like 1 process: same kNN, online classifier and probe on the test set', { timeout: 180_000 }, async () => {
  // Synthetic data: 2048 train / 512 test images, so a whole epoch (32 steps of 64) and its evaluation are quick.
  const extra = ['--dataset=synthetic', '--batch-size=64', '--knn-k=20'];
  const [single, replicas] = await Promise.all([
    runRanks('eval-single', 1, [...extra, '--gradient-cache-chunk=32']),
    runRanks('eval-replicas', 2, extra),
  ]);
  assertExitedCleanly([...single, ...replicas]);
  const evaluation = (r: RankResult): Record<string, unknown> | undefined =>
    r.stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'evaluation on the test set');
  const want = evaluation(single[0]);
  const got = evaluation(replicas[0]);
  assert.ok(want && got, 'both rank 0s logged an evaluation');
  for (const key of ['knnTop1', 'knnTop5', 'top1', 'top5', 'probeTop1', 'probeTop5']) {
    assert.equal(typeof want[key], 'number', key);
    assert.equal(got[key], want[key], `${key}: 2 replicas ${String(got[key])} vs 1 process ${String(want[key])}`);
  }
  assert.ok((want.knnTop1 as number) > 0.2, 'better than chance (4 classes... or 10): the evaluation measures something');
});

test('replicas resume together from rank 0 checkpoint and finish where an uninterrupted run does', { timeout: 180_000 }, async () => {
  const common = ['--batch-size=16', '--checkpoint-every=3'];
  const [straight] = await Promise.all([
    runRanks('straight', 2, [...common, '--max-steps=6']),
    runRanks('interrupted', 2, [...common, '--max-steps=3']),
  ]);
  assertExitedCleanly(straight);
  const resumed = await runRanks('interrupted', 2, [...common, '--max-steps=6', '--resume']);
  assertExitedCleanly(resumed);
  assert.match(resumed[1].stderr + JSON.stringify(resumed[1].report), /resumed|step/);
  const d = await checkpointDistance('straight', 'interrupted');
  assert.deepEqual(d.step, [6, 6]);
  assert.equal(d.max, 0, 'resuming is exact on CPU');
});

test('killing one replica mid-training makes every other replica exit with the lost-peer code (75) within the collective timeout', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const env = (rank: number): Record<string, string> => rankEnv(rank, 3, port);
  const extra = ['--batch-size=24', '--collective-timeout=20', '--log-level=debug'];
  // Workers start before the master and still join (they retry until the rendezvous timeout).
  const workers = [1, 2].map((rank) => spawnRank(CLI, { rank, env: env(rank), args: flags('killed', extra), killAfterMs: 100_000 }));
  await new Promise((r) => setTimeout(r, 1500));
  const master = spawnRank(CLI, { rank: 0, env: env(0), args: flags('killed', extra), killAfterMs: 100_000 });
  await Promise.all([master, ...workers].map((p) => waitForStdout(p.child, '"msg":"step"')));
  const killedAt = Date.now();
  workers[0].child.kill('SIGKILL');
  const [m, other] = await Promise.all([master.done, workers[1].done]);
  for (const r of [m, other]) {
    // A lost peer has its own exit code: the operator restarts the gang for it.
    assert.equal(r.exitCode, EXIT_PEER_LOST, `rank ${r.rank} must fail as having lost its peer: ${r.stderr.slice(-500)}`);
    assert.equal(r.signal, null, `rank ${r.rank} exited by itself, not by the test's kill timer`);
    assert.match(r.stderr, /simclr train: .*(peer|closed|reset|Timed out|Connection)/i, `rank ${r.rank}: ${r.stderr.slice(-500)}`);
  }
  const lastExit = Date.now() - killedAt;
  t.diagnostic(`survivors exited ${lastExit} ms after the kill`);
  assert.ok(lastExit < 20_000 + 10_000, `survivors exited ${lastExit} ms after the kill (collective timeout 20 s)`);
});

test('an error on rank 0 before training reaches every rank as that error', { timeout: 120_000 }, async () => {
  const first = await runRanks('taken', 2, ['--batch-size=16', '--max-steps=1']);
  assertExitedCleanly(first);
  const again = await runRanks('taken', 2, ['--batch-size=16', '--max-steps=2']); // no --resume: must not overwrite
  for (const r of again) {
    assert.equal(r.exitCode, 1, `rank ${r.rank}: ${r.stderr}`);
    assert.match(r.stderr, /already holds checkpoints: pass --resume/);
  }
  assert.match(again[1].stderr, /rank 0 could not start/);
});

test('a replica given a wrong master fails within the rendezvous timeout, naming the address it tried', { timeout: 60_000 }, async () => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  const r = await spawnRank(CLI, {
    rank: 1,
    env: {},
    args: flags('lost', ['--batch-size=16', '--num-replicas=2', '--distributed-rank=1', '--distributed-master=127.0.0.1', `--distributed-port=${port}`, '--rendezvous-timeout=3']),
    killAfterMs: 45_000,
  }).done;
  assert.equal(r.exitCode, EXIT_PEER_LOST, r.stderr); // the master may only be late: a gang restart may get past it
  assert.equal(r.signal, null);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.ok(Date.now() - started < 30_000, 'fails promptly after the 3 s rendezvous timeout');
});

function waitForStdout(child: import('node:child_process').ChildProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes(text)) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
  });
}
