import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { at, makeJob, observe, podIn } from '../testing.js';

const report = (resumedFromStep: number) => ({ resumedFromStep, count: 2, movedTo: '/checkpoints/run/corrupt/2026-12-08T01-02-03-456Z',
  checkpoints: [{ step: 40, reason: '/checkpoints/run/step-0000000040.safetensors: sha256 ab does not match (corrupt)' },
    { step: 20, reason: '/checkpoints/run/step-0000000020.json: unreadable or invalid manifest' }] });

test('rank 0 found only corrupt checkpoints: condition CheckpointsCorrupt/NoValidCheckpoint and one Warning event', () => {
  const job = makeJob({}, { phase: 'Running', restartCount: 1 });
  const pods = [podIn(job, 0, 'Running', 1), podIn(job, 1, 'Running', 1)];
  const plan = reconcilePlan({ ...observe(job, pods, at(5)), corruptCheckpoints: report(0) });
  assert.equal(plan.status.phase, 'Running', 'the run goes on from step 0');
  const c = plan.status.conditions?.find((x) => x.type === 'CheckpointsCorrupt');
  assert.equal(c?.status, 'True');
  assert.equal(c?.reason, 'NoValidCheckpoint');
  assert.match(c?.message ?? '', /^no checkpoint verified: 2 corrupt \(newest: step 40: .*sha256.*\); the run started again from step 0; their files were moved to \/checkpoints\/run\/corrupt\/2026-12-08T01-02-03-456Z and kept/);
  assert.deepEqual(plan.events.map((e) => [e.type, e.reason]), [['Warning', 'NoValidCheckpoint']]);
  // The next reconcile sees the same report: no second event.
  const again = reconcilePlan({ ...observe(makeJob({}, plan.status), pods, at(9)), corruptCheckpoints: report(0) });
  assert.deepEqual(again.events, []);
});

test('corrupt newer checkpoints skipped, an older one resumed: reason CorruptCheckpointsSkipped; none: no condition', () => {
  const job = makeJob({}, { phase: 'Running', restartCount: 1 });
  const pods = [podIn(job, 0, 'Running', 1), podIn(job, 1, 'Running', 1)];
  const plan = reconcilePlan({ ...observe(job, pods, at(5)), corruptCheckpoints: report(10) });
  const c = plan.status.conditions?.find((x) => x.type === 'CheckpointsCorrupt');
  assert.equal(c?.reason, 'CorruptCheckpointsSkipped');
  assert.match(c?.message ?? '', /2 corrupt checkpoint\(s\) skipped .*; resumed from step 10;/);
  const clean = reconcilePlan(observe(job, pods, at(5)));
  assert.equal(clean.status.conditions?.find((x) => x.type === 'CheckpointsCorrupt'), undefined);
  assert.ok(!clean.events.some((e) => e.type === 'Warning'));
});
