import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';
import type { V1Pod } from '@kubernetes/client-node';
import { restartBackoffSeconds } from './failure.js';

test('any rank failing restarts the whole gang: restartCount++, Restarting, no pod action yet', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 2 } });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Failed')], at(5)));
  assert.equal(plan.status.restartCount, 1);
  assert.equal(plan.status.phase, 'Restarting');
  assert.equal(plan.status.lastRestartTime, at(5).toISOString());
  const c = plan.status.conditions?.find((x) => x.type === 'Restarting');
  assert.equal(c?.status, 'True');
  assert.match(c?.message ?? '', /pod pre-1 failed \(Error, exit code 3\); restarting the gang \(restart 1 of 2\)/);
  assert.deepEqual(plan.deletePods, []);
  assert.equal(plan.events[0]?.reason, 'GangRestart');
});

test('the new gang waits for the backoff, then is created with the next generation label', () => {
  const job = makeJob({ runPolicy: { backoffSeconds: 10 } },
    { restartCount: 2, phase: 'Restarting', lastRestartTime: at(0).toISOString() });
  const early = reconcilePlan(observe(job, [], at(5)));
  assert.deepEqual(early.createPods, []);
  assert.equal(early.requeueAfterMs, 15_000);
  const late = reconcilePlan(observe(job, [], at(20)));
  assert.deepEqual(late.createPods.map((p) => p.metadata?.labels?.['simclr.dev/restart-generation']), ['2', '2']);
});

test('at backoffLimit the job is Failed with reason BackoffLimitExceeded', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 1 } }, { restartCount: 1, phase: 'Running' });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Failed', 1), podIn(job, 1, 'Running', 1)], at(9)));
  assert.equal(plan.status.phase, 'Failed');
  assert.equal(plan.status.completionTime, at(9).toISOString());
  const c = plan.status.conditions?.find((x) => x.type === 'Failed');
  assert.equal(c?.reason, 'BackoffLimitExceeded');
});

test('backoffLimit 0 fails on the first failure', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 0 } });
  assert.equal(reconcilePlan(observe(job, [podIn(job, 1, 'Failed')])).status.phase, 'Failed');
});

test('a failure in an old generation does not count again', () => {
  const job = makeJob({}, { restartCount: 1, phase: 'Restarting', lastRestartTime: at(-60).toISOString() });
  const plan = reconcilePlan(observe(job, [podIn(job, 1, 'Failed', 0)]));
  assert.equal(plan.status.restartCount, 1);
  assert.deepEqual(plan.deletePods, ['pre-1']);
});

test('backoff doubles and is capped at 300 s', () => {
  assert.deepEqual([0, 1, 2, 3, 10].map((n) => restartBackoffSeconds(10, n)), [0, 10, 20, 40, 300]);
});

test('restarted gang running again: phase Running, Restarting condition cleared', () => {
  const job = makeJob({}, { restartCount: 1, phase: 'Restarting', lastRestartTime: at(-60).toISOString(),
    conditions: [{ type: 'Restarting', status: 'True', reason: 'PodFailed', message: 'm', lastTransitionTime: 'x' }] });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running', 1), podIn(job, 1, 'Running', 1)]));
  assert.equal(plan.status.phase, 'Running');
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Restarting')?.status, 'False');
});

/** A pod of rank `rank` whose trainer exited with `exitCode` and left `message` as its termination message. */
function exited(job: ReturnType<typeof makeJob>, rank: number, exitCode: number, message?: string, gen = 0): V1Pod {
  const pod = podIn(job, rank, 'Failed', gen);
  pod.status!.containerStatuses![0]!.state = { terminated: { exitCode, reason: 'Error', message } };
  return pod;
}

test('exit code 2 fails the job at once with the trainer\'s reason, even with restarts left', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 5 } });
  // Rank 1 lost its peer (exit 1) because rank 0 refused its data (exit 2): the refusal is the story.
  const plan = reconcilePlan(observe(job, [
    exited(job, 0, 2, 'simclr train: fashion-mnist: missing /data/train-images-idx3-ubyte.gz'),
    exited(job, 1, 1, 'simclr train: rank 1 lost its peers'),
  ], at(5)));
  assert.equal(plan.status.phase, 'Failed');
  assert.equal(plan.status.restartCount, 0);
  const failed = plan.status.conditions?.find((c) => c.type === 'Failed');
  assert.equal(failed?.reason, 'ConfigOrDataError');
  assert.match(failed?.message ?? '', /^pod pre-0 failed \(Error, exit code 2\): simclr train: fashion-mnist: missing \/data\/train-images-idx3-ubyte.gz; not retried/);
  assert.deepEqual(plan.events.map((e) => [e.type, e.reason]), [['Warning', 'ConfigOrDataError']]);
});

test('a retried failure carries the termination message too; a log tail gives its last line', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 2 } });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'),
    exited(job, 1, 137, 'step 40 loss 5.1\nstep 41 loss 5.0\nKilled\n')], at(5)));
  assert.equal(plan.status.phase, 'Restarting');
  assert.match(plan.status.conditions?.find((c) => c.type === 'Restarting')?.message ?? '',
    /pod pre-1 failed \(Error, exit code 137\): Killed; restarting the gang/);
});

test('a pod of the running gang deleted by someone else restarts the whole gang, not that rank alone', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 3 } }, { phase: 'Running', restartCount: 0 });
  const deleted = podIn(job, 1, 'Running');
  deleted.metadata!.deletionTimestamp = at(4);
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), deleted], at(5)));
  assert.equal(plan.status.phase, 'Restarting');
  assert.equal(plan.status.restartCount, 1);
  assert.deepEqual(plan.createPods, [], 'no rank 1 of generation 0 alone');
  const c = plan.status.conditions?.find((x) => x.type === 'Restarting');
  assert.equal(c?.reason, 'PodDeleted');
  assert.match(c?.message ?? '', /pod pre-1 was deleted; restarting the gang \(not counted against backoffLimit 3\)/);
  assert.equal(plan.status.failureRestarts, 0, 'a deletion is not a failure');
  // The operator's own deletions (an old generation being replaced) are not a failure.
  const next = makeJob({ runPolicy: { backoffLimit: 3 } }, { phase: 'Restarting', restartCount: 1,
    lastRestartTime: at(-60).toISOString() });
  const old = podIn(next, 0, 'Running', 0);
  old.metadata!.deletionTimestamp = at(4);
  assert.equal(reconcilePlan(observe(next, [old], at(5))).status.restartCount, 1);
});

test('a force-deleted pod (gone without a terminating phase) restarts the whole gang, not that rank alone', () => {
  // The last status counted both pods of generation 0; rank 1 vanished from the cache since.
  const job = makeJob({}, { phase: 'Running', restartCount: 0,
    replicas: { pending: 0, running: 2, succeeded: 0, failed: 0 } });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running')], at(5)));
  assert.deepEqual(plan.createPods, [], 'no rank 1 of generation 0 alone');
  assert.equal(plan.status.phase, 'Restarting');
  assert.equal(plan.status.restartCount, 1);
  const c = plan.status.conditions?.find((x) => x.type === 'Restarting');
  assert.equal(c?.reason, 'PodDeleted');
  assert.match(c?.message ?? '', /pod pre-1 vanished/);
  // The new generation starts from zero counts: its empty gang is not another vanished pod.
  assert.deepEqual(plan.status.replicas, { pending: 0, running: 0, succeeded: 0, failed: 0 });
  const next = makeJob({}, plan.status);
  const after = reconcilePlan(observe(next, [podIn(next, 0, 'Running', 0)], at(6)));
  assert.equal(after.status.restartCount, 1);
  assert.deepEqual(after.deletePods, ['pre-0'], 'the old rank 0 goes');
  assert.deepEqual(after.createPods, [], 'generation 1 waits until the old rank 0 is gone');
  // Pods not yet in the cache after their creation are not gone: the status never counted them.
  const fresh = makeJob({}, { phase: 'Pending', restartCount: 0, replicas: { pending: 1, running: 0, succeeded: 0, failed: 0 } });
  assert.equal(reconcilePlan(observe(fresh, [podIn(fresh, 0, 'Pending')], at(5))).status.restartCount, 0);
});

test('deletions and planned stops (exit 143) restart the gang without counting against backoffLimit; failures do', () => {
  // backoffLimit 1 already used by a failure: another failure fails the job, a deletion or a planned stop does not.
  const status = { phase: 'Running' as const, restartCount: 3, failureRestarts: 1 };
  const job = makeJob({ runPolicy: { backoffLimit: 1, backoffSeconds: 10 } }, status);
  const stopped = reconcilePlan(observe(job, [exited(job, 0, 143, 'simclr train: stopped on request at step 40', 3),
    exited(job, 1, 143, undefined, 3)], at(5)));
  assert.equal(stopped.status.phase, 'Restarting');
  assert.equal(stopped.status.conditions?.find((c) => c.type === 'Restarting')?.reason, 'PlannedStop');
  assert.deepEqual([stopped.status.restartCount, stopped.status.failureRestarts], [4, 1]);
  const deleted = podIn(job, 1, 'Running', 3);
  deleted.metadata!.deletionTimestamp = at(4);
  // Rank 0 lost its peer (exit 1) because rank 1 was deleted: the deletion is the story.
  const plan = reconcilePlan(observe(job, [exited(job, 0, 1, 'simclr train: peer closed', 3), deleted], at(5)));
  assert.equal(plan.status.phase, 'Restarting');
  assert.deepEqual([plan.status.restartCount, plan.status.failureRestarts], [4, 1]);
  const failed = reconcilePlan(observe(job, [exited(job, 0, 1, undefined, 3), podIn(job, 1, 'Running', 3)], at(5)));
  assert.equal(failed.status.phase, 'Failed');
  assert.match(failed.status.conditions?.find((c) => c.type === 'Failed')?.message ?? '', /backoffLimit 1 reached after 1 restarts/);
  // The backoff delay grows with failures only: 10 s after one failure, whatever the deletions.
  const waiting = makeJob({ runPolicy: { backoffSeconds: 10 } }, { ...stopped.status, lastRestartTime: at(0).toISOString() });
  assert.equal(reconcilePlan(observe(waiting, [], at(4))).requeueAfterMs, 6_000);
});

test('a lost peer (exit 75) restarts the gang, counted; the killed rank, not its survivor, explains it', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 2 } });
  const lost = exited(job, 0, 75, 'simclr train: allreduce: peer 1 closed the connection');
  const both = reconcilePlan(observe(job, [lost, exited(job, 1, 137, 'Killed')], at(5)));
  assert.equal(both.status.phase, 'Restarting');
  assert.deepEqual([both.status.restartCount, both.status.failureRestarts], [1, 1]);
  assert.match(both.status.conditions?.find((c) => c.type === 'Restarting')?.message ?? '',
    /^pod pre-1 failed \(Error, exit code 137\): Killed; restarting the gang \(restart 1 of 2\)/);
  // Seen alone (the killed rank's status not in yet), the survivor's exit restarts the gang the same way.
  const alone = reconcilePlan(observe(job, [lost, podIn(job, 1, 'Running')], at(5)));
  assert.match(alone.status.conditions?.find((c) => c.type === 'Restarting')?.message ?? '',
    /^pod pre-0 failed \(Error, exit code 75\): simclr train: allreduce: peer 1 closed the connection; restarting the gang \(restart 1 of 2\)/);
});

test('failurePolicy rules override the defaults: exit 2 retried, 137 failing the job, OOMKilled ignored', () => {
  const rules = [
    { name: 'flaky-storage', action: 'RestartJob', onExitCodes: { operator: 'In', values: [2] } },
    { action: 'FailJob', onExitCodes: { operator: 'In', values: [137] }, onReasons: ['Error'] },
    { action: 'Ignore', onReasons: ['OOMKilled'] },
  ];
  const job = makeJob({ runPolicy: { backoffLimit: 1, failurePolicy: { rules } } });
  const retried = reconcilePlan(observe(job, [exited(job, 0, 2, 'simclr train: fashion-mnist: missing /data/x'),
    podIn(job, 1, 'Running')], at(5)));
  assert.equal(retried.status.phase, 'Restarting');
  assert.deepEqual([retried.status.restartCount, retried.status.failureRestarts], [1, 1]);
  assert.match(retried.status.conditions?.find((c) => c.type === 'Restarting')?.message ?? '',
    /exit code 2\): simclr train: fashion-mnist: missing \/data\/x; spec.runPolicy.failurePolicy.rules\[0\] \(flaky-storage\) says RestartJob; restarting the gang \(restart 1 of 1\)/);
  // Its next failure is past backoffLimit 1.
  const again = makeJob({ runPolicy: { backoffLimit: 1, failurePolicy: { rules } } }, retried.status);
  const exceeded = reconcilePlan(observe(again, [exited(again, 0, 2, undefined, 1)], at(60)));
  assert.equal(exceeded.status.conditions?.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');

  const killed = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), exited(job, 1, 137, 'Killed')], at(5)));
  assert.equal(killed.status.phase, 'Failed');
  assert.equal(killed.status.restartCount, 0);
  const c = killed.status.conditions?.find((x) => x.type === 'Failed');
  assert.equal(c?.reason, 'PodFailurePolicy');
  assert.equal(c?.message, 'pod pre-1 failed (Error, exit code 137): Killed; not retried: spec.runPolicy.failurePolicy.rules[1] says FailJob');
  assert.deepEqual(killed.events.map((e) => [e.type, e.reason]), [['Warning', 'PodFailurePolicy']]);

  const oom = exited(job, 1, 137);
  oom.status!.containerStatuses![0]!.state!.terminated!.reason = 'OOMKilled';
  const ignored = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), oom], at(5)));
  assert.equal(ignored.status.phase, 'Restarting');
  assert.deepEqual([ignored.status.restartCount, ignored.status.failureRestarts], [1, 0], 'not counted');
  const r = ignored.status.conditions?.find((x) => x.type === 'Restarting');
  assert.equal(r?.reason, 'FailureIgnored');
  assert.match(r?.message ?? '', /OOMKilled, exit code 137\); spec.runPolicy.failurePolicy.rules\[2\] says Ignore; restarting the gang \(not counted/);
});

test('an evicted pod restarts the gang without counting against backoffLimit', () => {
  const job = makeJob({ runPolicy: { backoffLimit: 0 } });
  const evicted = podIn(job, 1, 'Failed');
  evicted.status = { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' };
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), evicted], at(5)));
  assert.equal(plan.status.phase, 'Restarting');
  assert.deepEqual([plan.status.restartCount, plan.status.failureRestarts], [1, 0]);
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Restarting')?.reason, 'PodDisrupted');
});
