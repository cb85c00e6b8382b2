import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredPod } from './desired.js';
import { reconcilePlan } from './plan.js';
import { desiredPodGroup } from './pod-group.js';
import { makeJob, observe, podIn } from './testing.js';

test('Coscheduling: a scheduler-plugins PodGroup with minMember = replicas, owned by the job, named on every pod by label', () => {
  const job = makeJob({ scheduling: { podGroup: { kind: 'Coscheduling', scheduleTimeoutSeconds: 60 }, schedulerName: 'scheduler-plugins-scheduler' } });
  const pg = desiredPodGroup(job)!;
  assert.deepEqual([pg.group, pg.version, pg.plural], ['scheduling.x-k8s.io', 'v1alpha1', 'podgroups']);
  assert.deepEqual(pg.body.spec, { minMember: 2, scheduleTimeoutSeconds: 60 });
  const meta = pg.body.metadata as { name: string; namespace: string; ownerReferences: Array<{ uid: string; controller: boolean }> };
  assert.deepEqual([meta.name, meta.namespace, meta.ownerReferences[0]?.uid, meta.ownerReferences[0]?.controller],
    ['pre', 'ml', job.metadata.uid, true]);
  const pod = desiredPod(job, 1, 0);
  assert.equal(pod.metadata?.labels?.['scheduling.x-k8s.io/pod-group'], 'pre');
  assert.equal(pod.spec?.schedulerName, 'scheduler-plugins-scheduler');
  assert.equal(pod.metadata?.annotations, undefined);
});

test('Volcano: a Volcano PodGroup in its queue, named on every pod by annotation, scheduled by volcano unless told', () => {
  const job = makeJob({ podTemplate: { metadata: { annotations: { team: 'vision' } } },
    scheduling: { podGroup: { kind: 'Volcano', queue: 'research' }, priorityClassName: 'high' } });
  const pg = desiredPodGroup(job)!;
  assert.equal((pg.body as { apiVersion: string }).apiVersion, 'scheduling.volcano.sh/v1beta1');
  assert.deepEqual(pg.body.spec, { minMember: 2, queue: 'research', priorityClassName: 'high' });
  const pod = desiredPod(job, 0, 0);
  assert.deepEqual(pod.metadata?.annotations, { team: 'vision', 'scheduling.k8s.io/group-name': 'pre' });
  assert.equal(pod.spec?.schedulerName, 'volcano');
  assert.equal(pod.metadata?.labels?.['scheduling.x-k8s.io/pod-group'], undefined);
  const own = makeJob({ scheduling: { podGroup: { kind: 'Volcano' }, schedulerName: 'volcano-gpu' } });
  assert.equal(desiredPod(own, 0, 0).spec?.schedulerName, 'volcano-gpu');
});

test('without spec.scheduling.podGroup: no pod group, pods as before', () => {
  const job = makeJob();
  assert.equal(desiredPodGroup(job), undefined);
  const pod = desiredPod(job, 0, 0);
  assert.equal(pod.spec?.schedulerName, undefined);
  assert.equal(Object.keys(pod.metadata?.labels ?? {}).some((k) => k.startsWith('scheduling.')), false);
});

test('the plan creates the pod group with every pod creation (idempotent), never without one', () => {
  const job = makeJob({ scheduling: { podGroup: { kind: 'Coscheduling' } } });
  assert.equal(reconcilePlan(observe(job, [])).createPodGroup?.body.kind, 'PodGroup');
  const partial = reconcilePlan(observe(job, [podIn(job, 0, 'Pending')]));
  assert.deepEqual([partial.createPods.length, partial.createPodGroup?.group], [1, 'scheduling.x-k8s.io']);
  assert.equal(reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')])).createPodGroup, undefined);
});
