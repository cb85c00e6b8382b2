import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcilePlan } from '../plan.js';
import { finalProgressMessage, initialProgress } from '../../../trainer/contract/index.js';
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

test('the final progress is rank 0\'s termination message (what it ended with), not the last poll; curves kept', () => {
  const history = { stride: 1, train: [{ step: 20, loss: 4.1, lr: 0.1 }], evals: [], resumes: [] };
  const job = makeJob({}, { phase: 'Running' });
  // The last poll saw the final epoch training; the evaluation and the export came after it.
  const polled = { epoch: 2, step: 19, totalSteps: 20, loss: 4.2, history };
  const final = { ...initialProgress({ uid: 'run', worldSize: 2, epochs: 2, totalSteps: 20 }), phase: 'finished' as const,
    epoch: 2, step: 20, loss: 4.1, knnTop1: 0.71, top1: 0.74, top5: 0.98, evalSplit: 'test' as const, history,
    lastCheckpoint: { path: '/checkpoints/run/step-0000000020.json', step: 20, epoch: 2, time: at(2).toISOString() } };
  const rank0 = podIn(job, 0, 'Succeeded');
  rank0.status!.containerStatuses = [{ name: 'trainer', image: 'x', imageID: '', ready: false, restartCount: 0,
    state: { terminated: { exitCode: 0, reason: 'Completed', message: finalProgressMessage(final) } } }];
  const plan = reconcilePlan({ ...observe(job, [rank0, podIn(job, 1, 'Succeeded')], at(3)), progress: polled });
  assert.deepEqual({ ...plan.status.progress, updateTime: undefined }, { epoch: 2, step: 20, totalSteps: 20, loss: 4.1,
    knnTop1: 0.71, top1: 0.74, top5: 0.98, evalSplit: 'test', lastCheckpoint: '/checkpoints/run/step-0000000020.json',
    history, updateTime: undefined });
  assert.ok(finalProgressMessage(final).length < 4096, 'fits the kubelet\'s termination message');
  // A message that is not a document (an older trainer) leaves the poll's.
  rank0.status!.containerStatuses[0]!.state!.terminated!.message = 'done';
  assert.deepEqual(reconcilePlan({ ...observe(job, [rank0], at(3)), progress: polled }).status.progress, polled);
});
