// The operator on the whole local cluster (test/controlplane/local-cluster.ts), every part real: installed by the
// chart (helm install), upgraded and uninstalled by helm.
// A trainer that refuses its data: the apiserver admits the job, the operator
// creates the pod, the test node agent runs the real trainer, which finds no data set in its (empty) data volume,
// exits 2 and leaves its one-line reason as the container's termination message; the operator fails the job at once
// (no gang restart) and copies that reason into the Failed condition and a Warning event. A job that names no data set
// (training.dataset auto) trains on what its data volume holds, and fails the same way when it holds none.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../controlplane/eventually.js';
import { OPERATOR, RELEASE, startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { freePort } from '../../trainer/collectives/free-port.js';
import { writeFashionMnistSubset } from '../e2e/fashion-mnist-subset.js';
import { RESTRICTED } from './helpers.js';

const NS = 'exit-codes';
let c: LocalCluster;
// As make cluster does: claims' folders outside the cluster's own (temporary) folder.
const volumesDir = mkdtempSync(join(tmpdir(), 'simclr-cluster-volumes-'));

before(async () => {
  c = await startLocalCluster({ volumesDir });
  await c.cp.request('POST', '/api/v1/namespaces', { metadata: { name: NS, labels: RESTRICTED } });
});
after(async () => {
  await c?.stop();
  rmSync(volumesDir, { recursive: true, force: true });
});

test('exit code 2 (no data set in the data volume) fails the job at once with the trainer\'s reason', { timeout: 240_000 },
  async () => {
    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name: 'no-data', namespace: NS },
      // Ports of its own: every pod of the test node agent shares this machine's network with other tests.
      spec: { image: 'simclr-trainer:0.1.0', replicas: 1, data: { volume: { emptyDir: {} } },
        masterPort: await freePort(), progressPort: await freePort(),
        runPolicy: { backoffLimit: 3, backoffSeconds: 0 },
        training: { dataset: 'fashion-mnist', batchSize: 16, epochs: 1, threads: 1 } } }) });
    const status = await eventually('Failed', async () => {
      const r = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/no-data`);
      return r.body?.status?.phase === 'Failed' ? r.body.status : undefined;
    }, 180_000, 500);
    assert.equal(status.restartCount, 0, 'not retried');
    const failed = status.conditions.find((x: { type: string }) => x.type === 'Failed');
    assert.equal(failed.reason, 'ConfigOrDataError');
    assert.match(failed.message,
      /^pod no-data-0 failed \(Error, exit code 2\): simclr train: fashion-mnist: missing .*-images-idx3-ubyte.*; not retried/);
    const pod = await c.cp.request('GET', `/api/v1/namespaces/${NS}/pods/no-data-0`);
    assert.match(pod.body.status.containerStatuses[0].state.terminated.message, /^simclr train: fashion-mnist: missing/);
    const events = await eventually('Warning event', async () => {
      const r = await c.cp.request('GET', `/api/v1/namespaces/${NS}/events`);
      const e = (r.body.items as Array<{ reason: string; type: string; message: string }>)
        .find((x) => x.reason === 'ConfigOrDataError');
      return e;
    });
    assert.equal(events.type, 'Warning');
    assert.match(events.message, /simclr train: fashion-mnist: missing/);
    // One pod ever: no generation 1.
    assert.equal(c.agent.podRuns().filter((r) => r.namespace === NS && r.name.startsWith('no-data-')).length, 1);
  });

test('a job that names no data set (training.dataset defaults to auto) trains on what spec.data holds; a folder that is none fails the job at once', { timeout: 240_000 },
  async () => {
    // Real Fashion-MNIST images (the first 64 / 32) as IDX files on a claim: the pod infers fashion-mnist from them.
    writeFashionMnistSubset(c.agent.claimDir(NS, 'fmnist'), { train: 64, test: 32 });
    const claim = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: NS },
      spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } } } });
    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [claim('fmnist'), claim('inferred-ckpt'),
      { apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name: 'inferred', namespace: NS },
        spec: { image: 'simclr-trainer:0.1.0', replicas: 1, data: { claimName: 'fmnist' }, checkpoint: { claimName: 'inferred-ckpt' },
          masterPort: await freePort(), progressPort: await freePort(), runPolicy: { backoffLimit: 0 },
          training: { batchSize: 16, epochs: 1, threads: 1, widthMultiplier: 0.0625, imageSizeOverride: 12, headLatentSize: 32,
            nceSize: 16, knnK: 5 } } }] }) });
    await eventually('Succeeded', async () => {
      const r = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/inferred`);
      assert.notEqual(r.body?.status?.phase, 'Failed', JSON.stringify(r.body?.status?.conditions));
      return r.body?.status?.phase === 'Succeeded' ? true : undefined;
    }, 180_000, 500);
    const ckptDir = join(c.agent.claimDir(NS, 'inferred-ckpt'), 'inferred');
    const manifest = readdirSync(ckptDir).filter((f) => /^step-\d+\.json$/.test(f)).sort().at(-1);
    assert.ok(manifest, `a checkpoint in ${ckptDir}`);
    const saved = JSON.parse(readFileSync(join(ckptDir, manifest), 'utf8')) as { config: { dataset: string }; extra: { input: { dataset: string } } };
    assert.equal(saved.config.dataset, 'fashion-mnist', 'the checkpoint records the inferred data set');
    assert.equal(saved.extra.input.dataset, 'fashion-mnist');

    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name: 'unknown-data', namespace: NS },
      spec: { image: 'simclr-trainer:0.1.0', replicas: 1, data: { volume: { emptyDir: {} } },
        masterPort: await freePort(), progressPort: await freePort(),
        runPolicy: { backoffLimit: 3, backoffSeconds: 0 },
        training: { batchSize: 16, epochs: 1, threads: 1 } } }) });
    const job = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/unknown-data`);
    assert.equal(job.body.spec.training.dataset, 'auto', 'the apiserver defaults the data set to auto');
    const status = await eventually('Failed', async () => {
      const r = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/unknown-data`);
      return r.body?.status?.phase === 'Failed' ? r.body.status : undefined;
    }, 180_000, 500);
    assert.equal(status.restartCount, 0, 'not retried');
    const failed = status.conditions.find((x: { type: string }) => x.type === 'Failed');
    assert.equal(failed.reason, 'ConfigOrDataError');
    assert.match(failed.message, /^pod unknown-data-0 failed \(Error, exit code 2\): simclr train: --data-dir=\S+ is no data set this trainer can recognise \(it is empty\).*pass --dataset.*; not retried/);
  });

test('the chart\'s operator: two replicas, one leader, acting as the chart\'s ServiceAccount only', async () => {
  const pods = await c.operatorPods();
  assert.equal(pods.length, 2, 'replicaCount 2, the chart\'s default');
  for (const p of pods) {
    assert.equal(p.status?.phase, 'Running');
    assert.equal(p.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True', 'its readiness probe passed');
    assert.equal(p.spec?.serviceAccountName, OPERATOR);
  }
  const leader = await c.leader();
  assert.ok(pods.some((p) => p.metadata!.name === leader), `the Lease is held by one of them, not ${leader}`);
  // Its only credential is the token the agent mounted for the pod: the apiserver says whose it is.
  const run = c.agent.podRun('default', pods[0]!.metadata!.name!)!;
  const token = readFileSync(join(run.plan!.serviceAccount!.dir, 'token'), 'utf8');
  const review = await c.cp.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
  assert.equal(review.body.status.user.username, `system:serviceaccount:default:${OPERATOR}`);
  const env = run.plan!.processes[0]!.env;
  assert.equal(env.KUBECONFIG, undefined, 'no kubeconfig: in-cluster config from the mounted token');
});

test('an operator that dies is restarted in place (the same pod), and the operators carry on reconciling', { timeout: 120_000 },
  async () => {
    const leader = (await c.leader())!;
    const run = c.agent.podRun('default', leader)!;
    process.kill(run.containers[0]!.child!.pid!, 'SIGKILL');
    await eventually('the leader\'s container restarted in place', async () => {
      const pod = (await c.operatorPods()).find((p) => p.metadata!.name === leader);
      const cs = pod?.status?.containerStatuses?.[0];
      return cs?.restartCount === 1 && cs.state?.running && cs.lastState?.terminated?.exitCode === 137 ? true : undefined;
    }, 60_000, 200);
    assert.equal((await c.operatorPods()).length, 2, 'no new pod');
    // A leader again (the other replica once the killed one's Lease runs out, or the restarted one), which acts.
    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name: 'after-restart', namespace: NS },
      spec: { image: 'simclr-trainer:0.1.0', replicas: 1, runPolicy: { suspend: true },
        training: { dataset: 'synthetic', batchSize: 16, epochs: 1 } } }) });
    await eventually('the job reconciled (Suspended)', async () => {
      const r = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/after-restart`);
      return r.body?.status?.phase === 'Suspended' ? true : undefined;
    }, 60_000, 500);
  });

test('helm upgrade with a changed value rolls the operator to new pods, one leader, the Service still answering', { timeout: 240_000 },
  async () => {
    const old = new Set((await c.operatorPods()).map((p) => p.metadata!.name!));
    await c.helm(['upgrade', RELEASE, 'charts/simclr-operator', '--reuse-values', '--set', 'operator.logLevel=debug']);
    await c.cp.kubectl(['rollout', 'status', `deployment/${OPERATOR}`, '--timeout=180s']);
    const pods = await eventually('two new pods only', async () => {
      const now = (await c.operatorPods()).filter((p) => !p.metadata?.deletionTimestamp);
      return now.length === 2 && now.every((p) => !old.has(p.metadata!.name!)) ? now : undefined;
    }, 60_000, 500);
    for (const p of pods) assert.ok(p.spec!.containers[0]!.args!.includes('--log-level=debug'));
    const leader = await eventually('a new leader', async () => {
      const l = await c.leader();
      return l !== undefined && pods.some((p) => p.metadata!.name === l) ? l : undefined;
    }, 60_000, 500);
    assert.ok(leader);
    const jobs = await c.operatorGet(`/api/v1/namespaces/${NS}/jobs/after-restart`);
    assert.equal(jobs.status, 200);
  });

test('helm uninstall removes the operator; the CRD, the jobs and their pods stay (as README says)', { timeout: 180_000 },
  async () => {
    // A job with a pod, so there is something to keep.
    await c.cp.kubectl(['patch', 'scj', '-n', NS, 'after-restart', '--type=merge', '-p', '{"spec":{"runPolicy":{"suspend":false}}}']);
    await eventually('its pod', async () =>
      ((await c.cp.request('GET', `/api/v1/namespaces/${NS}/pods/after-restart-0`)).status === 200 ? true : undefined), 60_000, 500);
    await c.helm(['uninstall', RELEASE, '--wait']);
    for (const path of [`/apis/apps/v1/namespaces/default/deployments/${OPERATOR}`,
      `/api/v1/namespaces/default/services/${OPERATOR}`, `/api/v1/namespaces/default/serviceaccounts/${OPERATOR}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${OPERATOR}`]) {
      assert.equal((await c.cp.request('GET', path)).status, 404, `${path} removed`);
    }
    await eventually('the operator pods gone', async () => ((await c.operatorPods()).length === 0 ? true : undefined), 60_000, 500);
    assert.equal((await c.cp.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/simclrjobs.simclr.dev')).status, 200);
    assert.equal((await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/after-restart`)).status, 200);
    assert.equal((await c.cp.request('GET', `/api/v1/namespaces/${NS}/pods/after-restart-0`)).status, 200);
    // Deleting the job removes its pods (owner references; the garbage collector, no operator needed).
    await c.cp.kubectl(['delete', 'scj', '-n', NS, 'after-restart', '--wait=true']);
    await eventually('its pod garbage-collected', async () =>
      ((await c.cp.request('GET', `/api/v1/namespaces/${NS}/pods/after-restart-0`)).status === 404 ? true : undefined), 60_000, 500);
  });

test('stopping the cluster (what Ctrl-C on make cluster runs) deletes its own folder, never a claim\'s', { timeout: 120_000 },
  async () => {
    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim',
      metadata: { name: 'ckpt', namespace: NS },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }) });
    const claim = c.agent.claimDir(NS, 'ckpt');
    assert.ok(claim.startsWith(volumesDir), claim);
    await eventually('the claim provisioned', async () => (existsSync(claim) ? true : undefined), 30_000, 200);
    writeFileSync(join(claim, 'step-0000000040.json'), '{"a checkpoint":true}'); // what a trainer would leave there
    const clusterDir = c.cp.dir;
    await c.stop();
    if (process.env.SIMCLR_CP_KEEP !== '1') assert.equal(existsSync(clusterDir), false, 'the cluster\'s own folder goes');
    assert.equal(readFileSync(join(claim, 'step-0000000040.json'), 'utf8'), '{"a checkpoint":true}');
  });
