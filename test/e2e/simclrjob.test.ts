// End to end on this machine, every part real: kube-apiserver + etcd + kube-controller-manager + kube-scheduler,
// the operator installed by `helm install simclr charts/simclr-operator` (two replicas, one leader, the chart's
// ServiceAccount and RBAC, its REST API reached through the chart's Service), the test node agent running each pod
// (operator and trainer) as a local process. A 2-replica SimCLRJob
// on (a subset of) Fashion-MNIST: pods created -> ranks rendezvous and train -> `kubectl get scj` and the REST API
// show epoch and loss moving -> rank 1 is SIGKILLed mid-run -> the gang restarts and resumes from the checkpoint ->
// rank 1's pod is deleted (a planned stop: SIGTERM) -> every rank stops at one step, rank 0 checkpoints it, the gang
// restarts uncounted and resumes from that very step (0 steps lost) -> Succeeded -> rank 0 exported the ONNX encoder
// beside the checkpoints, and it embeds images.
// Needs `npx tsc -p .` (dist/) and the control-plane binaries (test/controlplane/build.sh). About 1.5 min on 2 cores.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../controlplane/eventually.js';
import { requireBuild, startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { repoRoot, type PodRun } from '../agent/node-agent.js';
import { freePort } from '../../trainer/collectives/free-port.js';
import { writeFashionMnistSubset } from './fashion-mnist-subset.js';
import { tinyJobManifest } from './tiny-job.js';

const NS = 'e2e';
const JOB = 'fmnist';
const TRAIN_IMAGES = 1024;
const BATCH = 32;
const EPOCHS = 8;
const STEPS_PER_EPOCH = TRAIN_IMAGES / BATCH; // 32
const TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH; // 256: the kill (about step 40) lands well before the end
const CHECKPOINT_EVERY = 10;

interface LogLine {
  msg?: string;
  step?: number;
  [k: string]: unknown;
}

/** The trainer's pino JSON lines (anything else it printed is skipped). */
function logLines(run: PodRun | undefined): LogLine[] {
  if (run === undefined) return [];
  const path = run.containers[0]?.logPath;
  if (path === undefined || !existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as LogLine];
    } catch {
      return [];
    }
  });
}

const steps = (lines: LogLine[]): number[] => lines.filter((l) => l.msg === 'step').map((l) => l.step!);

let c: LocalCluster;
const kubectl = async (...args: string[]): Promise<string> => (await c.cp.kubectl(args)).stdout;

before(async () => {
  requireBuild(repoRoot());
  // The README's helm install, with the operator reading rank 0's progress every second instead of 15.
  c = await startLocalCluster({ helmArgs: ['--set', 'operator.progressIntervalSeconds=1'] });
  await kubectl('create', 'namespace', NS);
  // Pods the operator creates must pass Pod Security restricted, as on a shared cluster.
  await kubectl('label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted');
});
after(async () => {
  await c?.stop();
});

test('a 2-replica SimCLRJob trains, survives a killed rank by resuming from its checkpoint, and succeeds', { timeout: 600_000 }, async (t) => {
  writeFashionMnistSubset(c.agent.claimDir(NS, 'fmnist-subset'), { train: TRAIN_IMAGES, test: 512 });
  await c.cp.kubectl(['apply', '-f', '-'], {
    input: tinyJobManifest({
      namespace: NS, job: JOB, dataClaim: 'fmnist-subset', masterPort: await freePort(), progressPort: await freePort(),
      batchSize: BATCH, epochs: EPOCHS, checkpointEvery: CHECKPOINT_EVERY, logLevel: 'debug',
    }),
  });

  // The operator creates the gang; the scheduler binds it to the agent's node; the agent runs it.
  const pods = await eventually('2 Running pods', async () => {
    const list = JSON.parse(await kubectl('get', 'pods', '-n', NS, '-l', `simclr.dev/job-name=${JOB}`, '-o', 'json'));
    return list.items.length === 2 && list.items.every((p: any) => p.status.phase === 'Running') ? list.items : undefined;
  }, 120_000, 500);
  assert.deepEqual(pods.map((p: any) => p.spec.nodeName), [c.agent.nodeName, c.agent.nodeName]);

  // Both ranks joined one rendezvous: each logs the 2-replica gradient-cache step.
  for (const rank of [0, 1]) {
    const start = await eventually(`rank ${rank} training`, () =>
      logLines(c.agent.podRun(NS, `${JOB}-${rank}`)).find((l) => l.msg === 'training'), 60_000, 500);
    assert.equal(start.replicas, 2);
    assert.equal(start.rank, rank);
    assert.equal(start.train, TRAIN_IMAGES); // the data volume was mounted at --data-dir
  }

  // `kubectl get scj` shows epoch and loss moving; the REST API shows what the status holds.
  const rows = new Map<string, { epoch: number; loss: number }>();
  await eventually('two epochs and three different losses in kubectl get scj', async () => {
    const line = (await kubectl('get', 'scj', '-n', NS, JOB, '--no-headers')).trim();
    const [, phase, replicas, epoch, loss] = line.split(/\s+/);
    assert.equal(phase, 'Running');
    assert.equal(replicas, '2');
    if (epoch !== undefined && loss !== undefined && loss !== '<none>') rows.set(loss, { epoch: Number(epoch), loss: Number(loss) });
    const seen = [...rows.values()];
    return seen.length >= 3 && new Set(seen.map((r) => r.epoch)).size >= 2 ? seen : undefined;
  }, 180_000, 700);
  await eventually('the REST API and the SimCLRJob status agree on progress', async () => {
    // Through the chart's Service (HTTPS with the chart's certificate, a bearer token checked by TokenReview + SAR).
    const rest = (await c.operatorGet(`/api/v1/namespaces/${NS}/jobs/${JOB}`)).body;
    const status = JSON.parse(await kubectl('get', 'scj', '-n', NS, JOB, '-o', 'json')).status;
    return rest.status?.progress?.step === status.progress?.step && typeof rest.status?.progress?.loss === 'number'
      && rest.status.progress.loss === status.progress.loss && rest.pods?.length === 2 ? true : undefined;
  }, 30_000, 300);

  // Kill rank 1 mid-run (after a checkpoint, before the end), as a crashed node or OOM kill would.
  const ckptDir = join(c.agent.claimDir(NS, `${JOB}-checkpoints`), JOB);
  await eventually('a checkpoint past step 2 x checkpointEvery', () => {
    const saved = existsSync(ckptDir) ? readdirSync(ckptDir).filter((f) => /^step-\d+\.json$/.test(f)) : [];
    return saved.some((f) => Number(f.slice(5, -5)) >= 2 * CHECKPOINT_EVERY) ? true : undefined;
  }, 120_000, 200);
  const gen0 = { rank0: c.agent.podRun(NS, `${JOB}-0`)!, rank1: c.agent.podRun(NS, `${JOB}-1`)! };
  assert.equal(gen0.rank1.containers[0]!.exit === undefined, true, 'rank 1 ended before it could be killed: lengthen the run');
  const victim = gen0.rank1.containers[0]!.child!.pid!;
  process.kill(victim, 'SIGKILL');

  const restarted = await eventually('a new gang (restart generation 1) Running', async () => {
    const list = JSON.parse(await kubectl('get', 'pods', '-n', NS, '-l', `simclr.dev/job-name=${JOB}`, '-o', 'json'));
    return list.items.length === 2 && list.items.every((p: any) =>
      p.metadata.labels['simclr.dev/restart-generation'] === '1' && p.status.phase === 'Running') ? list.items : undefined;
  }, 120_000, 500);
  assert.equal(restarted.length, 2);
  const killedExit = gen0.rank1.containers[0]!.exit;
  assert.equal(killedExit?.exitCode, 137, 'the agent reports SIGKILL as exit code 137, as a kubelet does');
  const restarting = JSON.parse(await kubectl('get', 'scj', '-n', NS, JOB, '-o', 'json')).status;
  assert.equal(restarting.restartCount, 1);
  // Why, as the operator recorded it: the exit code the agent reported for the killed rank.
  const events = JSON.parse(await kubectl('get', 'events', '-n', NS, '--field-selector', 'reason=GangRestart', '-o', 'json'));
  assert.match(events.items.map((e: any) => e.message).join('\n'), new RegExp(`${JOB}-1 failed.*exit code 137`));

  // A planned stop: rank 1's pod deleted (the agent sends SIGTERM, as a kubelet does). Every rank stops at the same
  // step, rank 0 checkpoints it, and the next gang resumes from exactly there: nothing is lost, nothing counted.
  const gen1 = { rank0: c.agent.podRun(NS, `${JOB}-0`)!, rank1: c.agent.podRun(NS, `${JOB}-1`)! };
  await eventually('the new gang a few steps in', () => (steps(logLines(gen1.rank0)).length >= 5 ? true : undefined),
    120_000, 200);
  await kubectl('delete', 'pod', '-n', NS, `${JOB}-1`, '--wait=false');
  await eventually('a new gang (restart generation 2) Running', async () => {
    const list = JSON.parse(await kubectl('get', 'pods', '-n', NS, '-l', `simclr.dev/job-name=${JOB}`, '-o', 'json'));
    return list.items.length === 2 && list.items.every((p: any) =>
      p.metadata.labels['simclr.dev/restart-generation'] === '2' && p.status.phase === 'Running') ? true : undefined;
  }, 120_000, 500);
  assert.deepEqual([gen1.rank0.containers[0]!.exit?.exitCode, gen1.rank1.containers[0]!.exit?.exitCode], [143, 143],
    'both ranks stopped on request (exit 143), rank 0 without being signalled');
  const stoppedAt = Math.max(...steps(logLines(gen1.rank0)));
  const afterStop = JSON.parse(await kubectl('get', 'scj', '-n', NS, JOB, '-o', 'json')).status;
  assert.deepEqual([afterStop.restartCount, afterStop.failureRestarts], [2, 1], 'the deletion is not counted');
  const deleted = JSON.parse(await kubectl('get', 'events', '-n', NS, '--field-selector', 'reason=GangRestart', '-o', 'json'));
  assert.match(deleted.items.map((e: any) => e.message).join('\n'), new RegExp(`${JOB}-1 (was deleted|vanished).*not counted`));

  // Succeeded, after every step of the schedule.
  await eventually('Succeeded', async () =>
    (await kubectl('get', 'scj', '-n', NS, JOB, '-o', 'jsonpath={.status.phase}')) === 'Succeeded' ? true : undefined,
  300_000, 1000);

  // Resumed from the checkpoint: the new gang redid at most one checkpoint interval of what the old one had done.
  const doneBeforeKill = Math.max(...steps(logLines(gen0.rank0)));
  const gen1Lines = logLines(gen1.rank0);
  assert.notEqual(gen1.rank0.uid, gen0.rank0.uid);
  const resumed = gen1Lines.find((l) => l.msg === 'resumed');
  assert.ok(resumed, 'rank 0 of the new gang logs "resumed"');
  const from = resumed.step!;
  assert.ok(from > 0 && from <= doneBeforeKill, `resumed at ${from}, ${doneBeforeKill} steps were done before the kill`);
  assert.ok(doneBeforeKill - from <= CHECKPOINT_EVERY,
    `redone ${doneBeforeKill - from} steps (${from}..${doneBeforeKill}): more than one checkpoint interval`);
  assert.equal(steps(gen1Lines)[0], from + 1, 'the new gang starts at the step after the checkpoint');
  assert.ok(logLines(gen1.rank1).some((l) => /resumed from rank 0/.test(String(l.msg))));
  // After the planned stop: resumed from the step the stopped gang had reached.
  const gen2 = logLines(c.agent.podRun(NS, `${JOB}-0`));
  const resumedAfterStop = gen2.find((l) => l.msg === 'resumed')?.step;
  t.diagnostic(`rank 1's pod deleted after step ${stoppedAt}; the next gang resumed from step ${resumedAfterStop}`);
  assert.equal(stoppedAt - resumedAfterStop!, 0, 'steps lost to the planned stop');
  assert.equal(steps(gen2)[0], stoppedAt + 1);
  t.diagnostic(`kubectl get scj rows (epoch, loss): ${[...rows.values()].map((r) => `${r.epoch}/${r.loss.toFixed(3)}`).join(' ')}`);
  t.diagnostic(`rank 1 killed after step ${doneBeforeKill}; the new gang resumed from step ${from}`);
  const finished = gen2.find((l) => l.msg === 'training finished');
  assert.equal(finished?.step, TOTAL_STEPS);
  const status = JSON.parse(await kubectl('get', 'scj', '-n', NS, JOB, '-o', 'json')).status;
  assert.equal(status.restartCount, 2);
  // The final progress is what rank 0 ended with (its termination message), not a poll from before the end.
  assert.deepEqual([status.progress.step, status.progress.epoch], [TOTAL_STEPS, EPOCHS]);
  assert.equal(typeof status.progress.knnTop1, 'number');

  // The finished job's product: rank 0 exported the encoder beside its checkpoints, on the volume; it embeds images.
  const { trainerMain } = requireBuild(repoRoot());
  const encoder = join(ckptDir, 'encoder.onnx');
  assert.ok(existsSync(encoder), `${encoder} was written by the trainer`);
  assert.ok(gen2.some((l) => l.msg === 'exported the encoder'), 'rank 0 logged the export');
  const run = promisify(execFile);
  const out = join(c.cp.dir, 'embeddings.json');
  await run(process.execPath, [trainerMain, 'embed', `--model=${encoder}`, '--dataset=fashion-mnist',
    `--data-dir=${c.agent.claimDir(NS, 'fmnist-subset')}`, '--limit=8', `--out=${out}`]);
  const emb = JSON.parse(readFileSync(out, 'utf8')) as { shape: number[] };
  assert.equal(emb.shape[0], 8);
  assert.ok(emb.shape[1]! > 0);
  const manifests = readdirSync(ckptDir).filter((f) => f.endsWith('.json')).sort();
  assert.equal(manifests.at(-1), `step-${String(TOTAL_STEPS).padStart(10, '0')}.json`);
});
