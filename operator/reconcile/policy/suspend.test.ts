import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';

test('suspend deletes all pods, keeps the job, phase Suspended, startTime cleared', () => {
  const job = makeJob({ runPolicy: { suspend: true } }, { phase: 'Running', startTime: at(0).toISOString() });
  const plan = reconcilePlan(observe(job, [podIn(job, 0, 'Running'), podIn(job, 1, 'Running')], at(10)));
  assert.deepEqual(plan.deletePods, ['pre-0', 'pre-1']);
  assert.equal(plan.deleteJob, false);
  assert.equal(plan.status.phase, 'Suspended');
  assert.equal(plan.status.startTime, undefined);
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Suspended')?.status, 'True');
  assert.equal(plan.events[0]?.reason, 'Suspended');
});

test('a job created suspended creates nothing', () => {
  const job = makeJob({ runPolicy: { suspend: true } });
  const plan = reconcilePlan(observe(job, [], at(0), false));
  assert.deepEqual(plan.createPods, []);
  assert.equal(plan.status.phase, 'Suspended');
});

test('resume recreates the gang in the same generation and restarts the deadline clock', () => {
  const suspended = makeJob({ runPolicy: { suspend: true } });
  const s = reconcilePlan(observe(suspended, [], at(0))).status;
  const job = makeJob({ runPolicy: { suspend: false } }, s);
  const plan = reconcilePlan(observe(job, [], at(50)));
  assert.equal(plan.createPods.length, 2);
  assert.equal(plan.status.startTime, at(50).toISOString());
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Suspended')?.status, 'False');
  assert.equal(plan.events[0]?.reason, 'Resumed');
});

test('suspended: no gang exists, so Created is False until resume recreates it', () => {
  const job = makeJob({ runPolicy: { suspend: true } }, { phase: 'Running',
    conditions: [{ type: 'Created', status: 'True', reason: 'GangCreated', message: 'm', lastTransitionTime: at(0).toISOString() }] });
  const plan = reconcilePlan(observe(job, [], at(5)));
  assert.equal(plan.status.conditions?.find((c) => c.type === 'Created')?.status, 'False');
});
