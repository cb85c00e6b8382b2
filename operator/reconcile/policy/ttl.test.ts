import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe } from '../testing.js';

const done = { phase: 'Succeeded' as const, completionTime: at(0).toISOString() };

test('ttlSecondsAfterFinished: requeue until it expires, then delete the job', () => {
  const job = makeJob({ runPolicy: { ttlSecondsAfterFinished: 30 } }, done);
  const early = reconcilePlan(observe(job, [], at(10)));
  assert.equal(early.deleteJob, false);
  assert.equal(early.requeueAfterMs, 20_000);
  assert.equal(reconcilePlan(observe(job, [], at(30))).deleteJob, true);
});

test('no TTL: a finished job is kept', () => {
  const plan = reconcilePlan(observe(makeJob({}, done), [], at(1e6)));
  assert.equal(plan.deleteJob, false);
  assert.equal(plan.requeueAfterMs, undefined);
});
