// Gang scheduling, the objects: the operator against a real kube-apiserver that serves both schedulers' PodGroup CRDs
// (copied from their projects into test/fixtures/pod-group-crds/), on the chart's own RBAC. A job naming a pod group
// kind gets that PodGroup (minMember = replicas, owned by the job) before any pod, and every pod names it.
// What this does not show: a scheduler honouring the group (no coscheduling or Volcano scheduler runs here).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { RunningOperator } from '../../operator/operator.js';
import { repoRoot } from '../agent/node-agent.js';
import { startControlPlane, type ControlPlane } from '../controlplane/harness.js';
import { Cluster, createNamespace, eventually, installCrd, kubeConfig, runOperator } from './helpers.js';

const NS = 'gang';
let cp: ControlPlane;
let k: Cluster;
let op: RunningOperator;

before(async () => {
  cp = await startControlPlane();
  k = new Cluster(cp, kubeConfig(cp));
  await installCrd(cp);
  const crds = join(repoRoot(), 'test', 'fixtures', 'pod-group-crds');
  await cp.kubectl(['apply', '-f', crds]);
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/podgroups.scheduling.x-k8s.io',
    'crd/podgroups.scheduling.volcano.sh']);
  await createNamespace(cp, NS);
  op = await runOperator(cp);
});
after(async () => {
  await op?.stop();
  await cp?.stop();
});

async function podGroup(group: string, version: string, name: string): Promise<any> {
  const r = await cp.request('GET', `/apis/${group}/${version}/namespaces/${NS}/podgroups/${name}`);
  return r.status === 200 ? r.body : undefined;
}

test('Coscheduling: a scheduler-plugins PodGroup (minMember = replicas) before the pods, each pod labelled with it', async () => {
  await k.createJob(NS, 'cosched', { image: 'simclr-trainer:test', replicas: 3, training: { batchSize: 48 },
    scheduling: { schedulerName: 'scheduler-plugins-scheduler', podGroup: { kind: 'Coscheduling', scheduleTimeoutSeconds: 30 } } });
  const pods = await eventually('3 pods', async () => {
    const p = await k.pods(NS, 'cosched');
    return p.length === 3 ? p : undefined;
  });
  const pg = await podGroup('scheduling.x-k8s.io', 'v1alpha1', 'cosched');
  assert.ok(pg, 'the PodGroup exists once pods do');
  assert.deepEqual(pg.spec, { minMember: 3, scheduleTimeoutSeconds: 30 });
  const job = await k.getJob(NS, 'cosched');
  assert.equal(pg.metadata.ownerReferences[0].uid, job!.metadata.uid, 'owned by the job: deleted with it');
  // Created before the pods (the apply order): no pod is older than its group.
  for (const p of pods) {
    assert.equal(p.metadata?.labels?.['scheduling.x-k8s.io/pod-group'], 'cosched');
    assert.equal(p.spec?.schedulerName, 'scheduler-plugins-scheduler');
    assert.ok(Date.parse(pg.metadata.creationTimestamp) <= new Date(p.metadata!.creationTimestamp!).getTime());
  }
});

test('Volcano: a Volcano PodGroup in its queue, each pod annotated with it and scheduled by volcano', async () => {
  await k.createJob(NS, 'vc', { image: 'simclr-trainer:test', replicas: 2, training: { batchSize: 32 },
    scheduling: { podGroup: { kind: 'Volcano', queue: 'research' } } });
  const pods = await eventually('2 pods', async () => {
    const p = await k.pods(NS, 'vc');
    return p.length === 2 ? p : undefined;
  });
  const pg = await podGroup('scheduling.volcano.sh', 'v1beta1', 'vc');
  assert.ok(pg, 'the PodGroup exists once pods do');
  assert.equal(pg.spec.minMember, 2);
  assert.equal(pg.spec.queue, 'research');
  for (const p of pods) {
    assert.equal(p.metadata?.annotations?.['scheduling.k8s.io/group-name'], 'vc');
    assert.equal(p.spec?.schedulerName, 'volcano');
  }
});

test('the CRD refuses a pod group option of the other scheduler, naming the field', async () => {
  await assert.rejects(k.createJob(NS, 'mixed', { image: 'simclr-trainer:test',
    scheduling: { podGroup: { kind: 'Coscheduling', queue: 'research' } } }), (err: { body?: unknown }) => {
    assert.match(String(err.body), /spec.scheduling.podGroup.queue.*queue is Volcano's: remove it or set kind Volcano/);
    return true;
  });
});

test('a cluster without the scheduler\'s CRD gets no pod of the job (no rank placed without its group)', async () => {
  await cp.kubectl(['delete', 'crd', 'podgroups.scheduling.volcano.sh', '--wait=true']);
  await k.createJob(NS, 'no-crd', { image: 'simclr-trainer:test', replicas: 2, training: { batchSize: 32 },
    scheduling: { podGroup: { kind: 'Volcano' } } });
  // The operator reconciles it (the Service comes first) and stops before the pods.
  await eventually('the Service', async () =>
    ((await cp.request('GET', `/api/v1/namespaces/${NS}/services/no-crd`)).status === 200 ? true : undefined));
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(await k.pods(NS, 'no-crd'), []);
});
