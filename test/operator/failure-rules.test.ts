// spec.runPolicy.failurePolicy on the whole local cluster (test/controlplane/local-cluster.ts): the real apiserver,
// scheduler, operator process and trainer, run by the test node agent as local processes. What each trainer exit
// means to the job:
// - a trainer that refuses its command line (exit 2) fails the job once: no restart, its reason in the condition;
// - a killed rank (137) and its peer that lost it (75) restart the whole gang, counted against backoffLimit;
// - a rule of the job's own overrides the defaults: exit 2 retried until backoffLimit, 137 failing the job at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CONFIG_OR_DATA, EXIT_PEER_LOST } from '../../trainer/contract/index.js';
import { freePort } from '../../trainer/collectives/free-port.js';
import { operatorImage, trainerImage } from '../agent/node-agent.js';
import { eventually } from '../controlplane/eventually.js';
import { startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { RESTRICTED } from './helpers.js';

const NS = 'failure-rules';
/** An image whose entrypoint passes the trainer a flag it does not know, as a trainer image older than its operator
 * (or the wrong image) would meet one: the real trainer refuses it with exit 2. */
const BAD_FLAG_IMAGE = 'simclr-trainer-bad-flag';
/** The smallest model that trains: steps of a few tens of milliseconds on one thread. */
const TINY = { dataset: 'synthetic', batchSize: 16, epochs: 200, threads: 1, widthMultiplier: 0.0625,
  imageSizeOverride: 12, headLatentSize: 32, nceSize: 16, knnK: 5 };

let c: LocalCluster;
const volumesDir = mkdtempSync(join(tmpdir(), 'simclr-failure-rules-'));

before(async () => {
  const trainer = trainerImage();
  // The chart's operator image too: the local cluster runs the operator as the chart's Deployment.
  c = await startLocalCluster({ volumesDir, images: [trainer, operatorImage(),
    { ...trainer, name: BAD_FLAG_IMAGE, entrypoint: [...trainer.entrypoint, '--fused-lars=true'] }] });
  await c.cp.request('POST', '/api/v1/namespaces', { metadata: { name: NS, labels: RESTRICTED } });
});
after(async () => {
  await c?.stop();
  rmSync(volumesDir, { recursive: true, force: true });
});

async function createJob(name: string, spec: Record<string, unknown>): Promise<void> {
  await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
    apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name, namespace: NS },
    // Ports of its own: every pod of the test node agent shares this machine's network with other tests.
    spec: { masterPort: await freePort(), progressPort: await freePort(), ...spec } }) });
}

async function jobStatus(name: string): Promise<any> {
  return (await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/${name}`)).body?.status;
}

const finished = (name: string, phase: 'Failed' | 'Succeeded'): Promise<any> =>
  eventually(`${name} ${phase}`, async () => {
    const s = await jobStatus(name);
    return s?.phase === phase ? s : undefined;
  }, 180_000, 500);

async function events(reason: string): Promise<string[]> {
  const r = await c.cp.request('GET', `/api/v1/namespaces/${NS}/events`);
  return (r.body.items as Array<{ reason: string; message: string }>).filter((e) => e.reason === reason).map((e) => e.message);
}

/** Every run of the job's pods so far: name, restart generation, trainer exit code. */
function runs(job: string): Array<{ name: string; exit?: number }> {
  return c.agent.podRuns().filter((r) => r.namespace === NS && r.name.startsWith(`${job}-`))
    .map((r) => ({ name: r.name, exit: r.containers[0]?.exit?.exitCode }));
}

/** Waits until every rank of the job runs the trainer and rank 0 has logged training steps. */
async function training(job: string, replicas: number): Promise<void> {
  await eventually(`${job}: ${replicas} ranks stepping`, async () => {
    const all = Array.from({ length: replicas }, (_, r) => c.agent.podRun(NS, `${job}-${r}`));
    if (all.some((r) => r?.containers[0]?.child?.pid === undefined || r.containers[0].exit !== undefined)) return undefined;
    return (await jobStatus(job))?.progress?.step > 0 ? true : undefined;
  }, 120_000, 300);
}

test('a trainer that refuses its command line (exit 2) fails the whole job once, its reason in the condition', { timeout: 240_000 },
  async () => {
    await createJob('bad-flag', { image: `${BAD_FLAG_IMAGE}:1`, replicas: 2,
      runPolicy: { backoffLimit: 3, backoffSeconds: 0 }, training: TINY });
    const status = await finished('bad-flag', 'Failed');
    assert.equal(status.restartCount, 0, 'not retried');
    const failed = status.conditions.find((x: { type: string }) => x.type === 'Failed');
    assert.equal(failed.reason, 'ConfigOrDataError');
    assert.match(failed.message, /^pod bad-flag-[01] failed \(Error, exit code 2\): simclr train: unknown flag --fused-lars: see --help for the list; not retried/);
    assert.match((await events('ConfigOrDataError')).join('\n'), /simclr train: unknown flag --fused-lars/);
    // The operator had time to act on a restart (backoff 0): still the first two pods, both refused.
    await new Promise((r) => setTimeout(r, 3000));
    const ran = runs('bad-flag').sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(ran.map((r) => r.name), ['bad-flag-0', 'bad-flag-1'], 'one pod per rank, no second generation');
    // The first refusal fails the job; a rank still starting then is stopped by cleanPodPolicy Running (143).
    assert.ok(ran.some((r) => r.exit === EXIT_CONFIG_OR_DATA) && ran.every((r) => r.exit === EXIT_CONFIG_OR_DATA || r.exit === 143),
      JSON.stringify(ran));
    assert.equal((await jobStatus('bad-flag')).restartCount, 0);
  });

test('a killed rank restarts the whole gang, counted; its peer exits as having lost it (75) or is stopped by the restart', { timeout: 300_000 },
  async () => {
    await createJob('peer', { image: 'simclr-trainer:1', replicas: 2, runPolicy: { backoffLimit: 3, backoffSeconds: 0 },
      training: TINY });
    await training('peer', 2);
    const gen0 = { rank0: c.agent.podRun(NS, 'peer-0')!, rank1: c.agent.podRun(NS, 'peer-1')! };
    process.kill(gen0.rank1.containers[0]!.child!.pid!, 'SIGKILL');
    let seen = '';
    await eventually('generation 1 of both ranks running', async () => {
      const pods = (await c.cp.request('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=simclr.dev/job-name=peer`)).body.items;
      seen = JSON.stringify({ status: await jobStatus('peer'), pods: pods.map((p: any) =>
        [p.metadata.name, p.metadata.labels['simclr.dev/restart-generation'], p.status.phase, p.status.containerStatuses]) });
      return pods.length === 2 && pods.every((p: any) => p.metadata.labels['simclr.dev/restart-generation'] === '1'
        && p.status.phase === 'Running') ? true : undefined;
    }, 120_000, 500).catch((err: Error) => { throw new Error(`${err.message}; last seen: ${seen}`); });
    assert.equal(gen0.rank1.containers[0]!.exit?.exitCode, 137);
    // The survivor exits 75 when its next collective fails before the restart's deletion reaches it, else it is
    // killed by that deletion (137; the chart-installed operator is fast enough here to win that race). Exit 75
    // itself is tested in test/dist/train.test.ts.
    assert.ok([EXIT_PEER_LOST, 137].includes(gen0.rank0.containers[0]!.exit?.exitCode ?? -1),
      `the survivor exited ${gen0.rank0.containers[0]!.exit?.exitCode}`);
    const status = await jobStatus('peer');
    assert.deepEqual([status.restartCount, status.failureRestarts], [1, 1], 'counted against backoffLimit');
    // Whichever of the two the operator saw first explains the restart.
    assert.match((await events('GangRestart')).join('\n'),
      /pod peer-[01] failed \(Error, exit code (75|137)\).*; restarting the gang \(restart 1 of 3\)/);
    await c.cp.kubectl(['delete', 'scj', '-n', NS, 'peer', '--wait=false']);
  });

test('rules of the job\'s override the defaults: exit 2 retried until backoffLimit, a kill failing the job at once', { timeout: 300_000 },
  async () => {
    await createJob('retry-flag', { image: `${BAD_FLAG_IMAGE}:1`, replicas: 1, training: TINY,
      runPolicy: { backoffLimit: 1, backoffSeconds: 0, failurePolicy: { rules: [
        { name: 'retry-config', action: 'RestartJob', onExitCodes: { operator: 'In', values: [EXIT_CONFIG_OR_DATA] } }] } } });
    const retried = await finished('retry-flag', 'Failed');
    assert.deepEqual([retried.restartCount, retried.failureRestarts], [1, 1]);
    assert.equal(retried.conditions.find((x: { type: string }) => x.type === 'Failed').reason, 'BackoffLimitExceeded');
    assert.deepEqual(runs('retry-flag').map((r) => r.exit), [EXIT_CONFIG_OR_DATA, EXIT_CONFIG_OR_DATA], 'two generations ran');
    assert.match((await events('GangRestart')).join('\n'),
      /pod retry-flag-0 failed \(Error, exit code 2\): simclr train: unknown flag --fused-lars: see --help for the list; spec.runPolicy.failurePolicy.rules\[0\] \(retry-config\) says RestartJob; restarting the gang \(restart 1 of 1\)/);

    await createJob('kill-fails', { image: 'simclr-trainer:1', replicas: 1, training: TINY,
      runPolicy: { backoffLimit: 3, backoffSeconds: 0, failurePolicy: { rules: [
        { action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [EXIT_PEER_LOST, 143] } }] } } });
    await training('kill-fails', 1);
    process.kill(c.agent.podRun(NS, 'kill-fails-0')!.containers[0]!.child!.pid!, 'SIGKILL');
    const killed = await finished('kill-fails', 'Failed');
    assert.equal(killed.restartCount, 0, 'not retried, with 3 restarts left');
    const failed = killed.conditions.find((x: { type: string }) => x.type === 'Failed');
    assert.equal(failed.reason, 'PodFailurePolicy');
    assert.match(failed.message, /^pod kill-fails-0 failed \(.*exit code 137\).*; not retried: spec.runPolicy.failurePolicy.rules\[0\] says FailJob$/);
  });
