import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from './plan.js';
import { at, makeJob, observe, podIn } from './testing.js';
import { desiredPod } from './desired.js';

test('fresh job: Service and all pods of generation 0, phase Pending, startTime set', () => {
  const job = makeJob({ replicas: 3, training: { batchSize: 96 } });
  const plan = reconcilePlan(observe(job, [], at(0), false));
  assert.equal(plan.createService, true);
  assert.deepEqual(plan.createPods.map((p) => p.metadata?.name), ['pre-0', 'pre-1', 'pre-2']);
  assert.equal(plan.status.phase, 'Pending');
  assert.equal(plan.status.restartCount, 0);
  assert.equal(plan.status.startTime, at(0).toISOString());
  assert.equal(plan.status.observedGeneration, 1);
  assert.ok(plan.status.conditions?.some((c) => c.type === 'Created' && c.status === 'True'));
});

test('idempotent: with everything present nothing is created or deleted', () => {
  const job = makeJob();
  const pods = [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')];
  const plan = reconcilePlan(observe(job, pods));
  assert.equal(plan.createService, false);
  assert.deepEqual(plan.createPods, []);
  assert.deepEqual(plan.deletePods, []);
  assert.equal(plan.status.phase, 'Running');
});

test('partially created gang (operator died mid-reconcile): creates only the missing ranks', () => {
  const job = makeJob({ replicas: 4, training: { batchSize: 64 } });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Pending'), podIn(job, 2, 'Pending')]));
  assert.deepEqual(plan.createPods.map((p) => p.metadata?.name), ['pre-1', 'pre-3']);
  assert.deepEqual(plan.deletePods, []);
});

test('stale generation pods are deleted and the new gang waits until every one of them is gone', () => {
  const job = makeJob({}, { restartCount: 1, phase: 'Restarting', lastRestartTime: at(-100).toISOString() });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Failed', 0), podIn(job, 1, 'Running', 0)]));
  assert.deepEqual(plan.deletePods.sort(), ['pre-0', 'pre-1']);
  assert.deepEqual(plan.createPods, []);
  assert.equal(plan.status.phase, 'Restarting');
  // Rank 1's name is free, but rank 0 of the old gang (its rendezvous master) is still stopping: no rank joins it.
  const stopping = podIn(job, 0, 'Running', 0);
  stopping.metadata!.deletionTimestamp = at(-1);
  assert.deepEqual(reconcilePlan(observe(job, [stopping])).createPods, []);
  const after = reconcilePlan(observe(job, []));
  assert.deepEqual(after.createPods.map((p) => p.metadata?.labels?.['simclr.dev/restart-generation']), ['1', '1']);
});

test('pods of another job incarnation with the same name are stale, never part of the gang', () => {
  const job = makeJob();
  const foreign = desiredPod({ ...job, metadata: { ...job.metadata, uid: 'old-uid' } }, 0, 0);
  const plan = reconcilePlan(observe(job, [foreign]));
  assert.deepEqual(plan.deletePods, ['pre-0']);
  assert.deepEqual(plan.createPods, [], 'the new gang waits until the old pod is gone');
  assert.deepEqual(reconcilePlan(observe(job, [])).createPods.map((p) => p.metadata?.name), ['pre-0', 'pre-1']);
});

test('a job being deleted is left to garbage collection', () => {
  const job = makeJob();
  job.metadata.deletionTimestamp = at(0).toISOString();
  const plan = reconcilePlan(observe(job, []));
  assert.equal(plan.createPods.length + plan.deletePods.length, 0);
  assert.equal(plan.createService, false);
});

test('progress from rank 0 is copied into status while running', () => {
  const job = makeJob();
  const o = observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')]);
  o.progress = { epoch: 3, step: 120, loss: 4.2 };
  assert.deepEqual(reconcilePlan(o).status.progress, { epoch: 3, step: 120, loss: 4.2 });
});

test('a spec the trainer refuses (extraArgs) fails the job at once: InvalidSpec, Warning, no pods', () => {
  const job = makeJob({ extraArgs: ['--batch-sise=64'] });
  const plan = reconcilePlan(observe(job, [], at(0), false));
  assert.equal(plan.status.phase, 'Failed');
  assert.deepEqual(plan.createPods, []);
  const failed = plan.status.conditions?.find((c) => c.type === 'Failed');
  assert.equal(failed?.reason, 'InvalidSpec');
  assert.match(failed?.message ?? '', /unknown flag --batch-sise: did you mean --batch-size\?/);
  assert.deepEqual(plan.events.map((e) => [e.type, e.reason]), [['Warning', 'InvalidSpec']]);
  // Finished: the next pass only cleans up, and says nothing again.
  const next = reconcilePlan(observe(makeJob({ extraArgs: ['--batch-sise=64'] }, plan.status), [], at(1), false));
  assert.deepEqual(next.events, []);
  assert.equal(next.status.phase, 'Failed');
});

test('a suspended job whose spec is refused says Failed, not Suspended', () => {
  const job = makeJob({ extraArgs: ['--data-dir=/elsewhere'], runPolicy: { suspend: true } });
  const plan = reconcilePlan(observe(job, [], at(0), false));
  assert.equal(plan.status.phase, 'Failed');
  assert.match(plan.status.conditions?.find((c) => c.type === 'Failed')?.message ?? '',
    /rank 0 would run with --data-dir=\/elsewhere instead of undefined: spec.env and spec.extraArgs may not set/);
});

test('ranks finishing before rank 0 leave the job Running, not a Pending flash', () => {
  const job = makeJob({}, { phase: 'Running', restartCount: 0 });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Succeeded')]));
  assert.equal(plan.status.phase, 'Running');
  // Still starting up (a rank Pending) is Pending.
  const starting = reconcilePlan(observe(makeJob(), [podIn(job, 0, 'Running'), podIn(job, 1, 'Pending')]));
  assert.equal(starting.status.phase, 'Pending');
});

test('a volume kind the cluster admin has not allowed (hostPath) fails the job: InvalidSpec naming the field and the fix', () => {
  const job = makeJob({ checkpoint: { volume: { hostPath: { path: '/var/ckpt' } } } });
  const plan = reconcilePlan(observe(job, [], at(0), false));
  assert.equal(plan.status.phase, 'Failed');
  assert.deepEqual(plan.createPods, []);
  const failed = plan.status.conditions?.find((c) => c.type === 'Failed');
  assert.equal(failed?.reason, 'InvalidSpec');
  assert.match(failed?.message ?? '', /spec\.checkpoint\.volume: hostPath volumes are not allowed in this cluster \(allowed: persistentVolumeClaim, emptyDir, configMap, secret, nfs, csi; a cluster admin allows more kinds with the chart value jobs\.extraVolumeKinds\)/);
  // Allowed by the admin (--extra-volume-kinds=hostPath): the gang is created with it.
  const allowed = reconcilePlan({ ...observe(job, [], at(0), false), extraVolumeKinds: ['hostPath'] });
  assert.equal(allowed.createPods.length, 2);
  assert.deepEqual(allowed.createPods[0]!.spec?.volumes?.find((v) => v.name === 'checkpoints')?.hostPath, { path: '/var/ckpt' });
});
