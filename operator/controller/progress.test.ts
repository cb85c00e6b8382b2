import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { initialProgress } from '../../trainer/contract/index.js';
import { ProgressPoller, statusEpoch, type FetchFn } from './progress.js';

const log = pino({ level: 'silent' });

function server(doc: unknown, calls: string[]): FetchFn {
  return async (url) => {
    calls.push(url);
    return { ok: true, status: 200, json: async () => doc };
  };
}

test('a valid document becomes status progress and re-queues the job once', async () => {
  const doc = { ...initialProgress({ uid: 'pre', worldSize: 2, epochs: 10, totalSteps: 100 }),
    phase: 'training', epoch: 3, step: 30, loss: 5.5, imagesPerSecond: 900, etaSeconds: 60 };
  const calls: string[] = [];
  const updated: string[] = [];
  const p = new ProgressPoller({ intervalMs: 1000, timeoutMs: 100 }, (k) => updated.push(k), log, server(doc, calls));
  await p.poll('ml/pre', 'http://10.0.0.1:29400/progress');
  await p.poll('ml/pre', 'http://10.0.0.1:29400/progress');
  // The document's epoch 3 (0-based) is status epoch 4 (1-based: the fourth epoch is in progress).
  assert.deepEqual(p.get('ml/pre'), { epoch: 4, step: 30, loss: 5.5, imagesPerSecond: 900, etaSeconds: 60,
    updateTime: doc.updatedAt });
  assert.deepEqual(updated, ['ml/pre']);
});

test('status epochs: 0 before training, 1-based while training, all epochs once finished', () => {
  const base = initialProgress({ uid: 'pre', worldSize: 1, epochs: 10, totalSteps: 100 });
  assert.equal(statusEpoch({ ...base, phase: 'loading-data', epoch: 0 }), 0);
  assert.equal(statusEpoch({ ...base, phase: 'training', epoch: 0 }), 1);
  assert.equal(statusEpoch({ ...base, phase: 'evaluating', epoch: 9 }), 10);
  assert.equal(statusEpoch({ ...base, phase: 'finished', epoch: 10 }), 10);
});

test('polls are rate-limited per job', async () => {
  let t = 0;
  const calls: string[] = [];
  const doc = initialProgress({ uid: 'pre', worldSize: 1, epochs: 1, totalSteps: 1 });
  const p = new ProgressPoller({ intervalMs: 1000, timeoutMs: 100 }, () => {}, log, server(doc, calls), () => t);
  p.maybePoll('a', 'u');
  await new Promise((r) => setImmediate(r));
  p.maybePoll('a', 'u');
  t = 999;
  p.maybePoll('a', 'u');
  t = 1000;
  p.maybePoll('a', 'u');
  p.maybePoll('b', 'u');
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 3);
});

test('an invalid document or an unreachable rank 0 leaves progress unchanged', async () => {
  const p = new ProgressPoller({ intervalMs: 1, timeoutMs: 100 }, () => assert.fail('no update'), log,
    server({ epoch: 'x' }, []));
  await p.poll('k', 'u');
  assert.equal(p.get('k'), undefined);
  const down = new ProgressPoller({ intervalMs: 1, timeoutMs: 100 }, () => assert.fail('no update'), log,
    async () => { throw new Error('ECONNREFUSED'); });
  await down.poll('k', 'u');
  assert.equal(down.get('k'), undefined);
});
