import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { makeJob, observe, podIn } from '../testing.js';

const finished = { phase: 'Succeeded' as const, completionTime: '2026-01-01T00:00:00.000Z' };

for (const [policy, pods, svc] of [
  ['All', ['pre-0', 'pre-1'], true],
  ['Running', ['pre-1'], true],
  ['None', [], false],
] as const) {
  test(`cleanPodPolicy ${policy} after the job finished`, () => {
    const job = makeJob({ runPolicy: { cleanPodPolicy: policy } }, finished);
    const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Succeeded'), podIn(job, 1, 'Running')]));
    assert.deepEqual(plan.deletePods, pods);
    assert.equal(plan.deleteService, svc);
    assert.deepEqual(plan.createPods, []);
    assert.equal(plan.status.phase, 'Succeeded');
  });
}

test('a finished job never recreates pods or changes phase', () => {
  const job = makeJob({}, { phase: 'Failed', completionTime: '2026-01-01T00:00:00.000Z' });
  const plan = reconcilePlan(observe(job, [], undefined, false));
  assert.equal(plan.createService, false);
  assert.deepEqual(plan.createPods, []);
  assert.equal(plan.status.phase, 'Failed');
});
