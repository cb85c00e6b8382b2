import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';

test('rank 0 Succeeded -> Succeeded (decision first, no pod action in the same pass)', () => {
  const job = makeJob();
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Succeeded'), podIn(job, 1, 'Running')], at(3)));
  assert.equal(plan.status.phase, 'Succeeded');
  assert.equal(plan.status.completionTime, at(3).toISOString());
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Succeeded')?.status, 'True');
  assert.deepEqual(plan.deletePods, []);
});

test('rank 0 success wins over another rank failing at the same time', () => {
  const job = makeJob();
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Succeeded'), podIn(job, 1, 'Failed')]));
  assert.equal(plan.status.phase, 'Succeeded');
});

test('a non-zero rank succeeding alone is not success', () => {
  const job = makeJob();
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Succeeded')]));
  assert.notEqual(plan.status.phase, 'Succeeded');
});

test('the Succeeded status keeps rank 0\'s last progress document (its final evaluation)', () => {
  const job = makeJob({}, { phase: 'Running', progress: { epoch: 1, step: 10 } });
  const o = { ...observe(job, [podIn(job, 0, 'Succeeded'), podIn(job, 1, 'Succeeded')]),
    progress: { epoch: 2, step: 20, knnTop1: 0.71, top1: 0.74 } };
  const plan = reconcilePlan(o);
  assert.equal(plan.status.phase, 'Succeeded');
  assert.deepEqual(plan.status.progress, { epoch: 2, step: 20, knnTop1: 0.71, top1: 0.74 });
});
