import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';

test('before the deadline a requeue is scheduled for the moment it passes', () => {
  const job = makeJob({ runPolicy: { activeDeadlineSeconds: 60 } }, { startTime: at(0).toISOString() });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')], at(20)));
  assert.equal(plan.status.phase, 'Running');
  assert.equal(plan.requeueAfterMs, 40_000);
});

test('past activeDeadlineSeconds the job is Failed with DeadlineExceeded; pods cleaned next pass', () => {
  const job = makeJob({ runPolicy: { activeDeadlineSeconds: 60 } }, { startTime: at(0).toISOString() });
  const pods = [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')];
  const plan = reconcilePlan(observe(job, pods, at(61)));
  assert.equal(plan.status.phase, 'Failed');
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
  const next = reconcilePlan(observe(makeJob({ runPolicy: { activeDeadlineSeconds: 60 } }, plan.status), pods, at(62)));
  assert.deepEqual(next.deletePods, ['pre-0', 'pre-1']);
});
