// The operator on the whole local cluster (test/controlplane/local-cluster.ts), every part real.
// A trainer that refuses its data: the apiserver admits the job, the operator
// creates the pod, the test node agent runs the real trainer, which finds no data set in its (empty) data volume,
// exits 2 and leaves its one-line reason as the container's termination message; the operator fails the job at once
// (no gang restart) and copies that reason into the Failed condition and a Warning event.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../controlplane/eventually.js';
import { startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { freePort } from '../../trainer/collectives/free-port.js';
import { RESTRICTED } from './helpers.js';

const NS = 'exit-codes';
let c: LocalCluster;

before(async () => {
  c = await startLocalCluster();
  await c.cp.request('POST', '/api/v1/namespaces', { metadata: { name: NS, labels: RESTRICTED } });
});
after(async () => {
  await c?.stop();
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
    assert.equal(c.agent.podRuns().filter((r) => r.namespace === NS).length, 1);
  });

test('an operator that dies is started again, as a Deployment would, and carries on reconciling', { timeout: 120_000 },
  async () => {
    const before = c.operator;
    const pid = before.pid!;
    before.kill('SIGKILL');
    await eventually('a new operator process', () => (c.operatorRestarts === 1 && c.operator.pid !== pid ? true : undefined),
      10_000);
    // The new one waits out the killed one's Lease, then acts: a new job gets its pod.
    await c.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', metadata: { name: 'after-restart', namespace: NS },
      spec: { image: 'simclr-trainer:0.1.0', replicas: 1, runPolicy: { suspend: true },
        training: { dataset: 'synthetic', batchSize: 16, epochs: 1 } } }) });
    await eventually('the job reconciled (Suspended)', async () => {
      const r = await c.cp.request('GET', `/apis/simclr.dev/v1alpha1/namespaces/${NS}/simclrjobs/after-restart`);
      return r.body?.status?.phase === 'Suspended' ? true : undefined;
    }, 60_000, 500);
  });
