import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';
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
