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
  assert.deepEqual(p.get('ml/pre'), { epoch: 4, step: 30, totalSteps: 100, loss: 5.5, imagesPerSecond: 900, etaSeconds: 60,
    updateTime: doc.updatedAt });
  assert.deepEqual(updated, ['ml/pre']);
});

test('evaluation results and the history go into status progress as they are', async () => {
  const history = { stride: 2, train: [{ step: 2, loss: 6.1, lr: 0.1, imagesPerSecond: 80 }],
    evals: [{ step: 4, split: 'test' as const, knnTop1: 0.5 }], resumes: [{ step: 4, time: '2026-12-07T21:00:00.000Z' }] };
  const doc = { ...initialProgress({ uid: 'pre', worldSize: 2, epochs: 10, totalSteps: 100 }),
    phase: 'finished', step: 100, loss: 5.5, knnTop1: 0.5, top1: 0.625, top5: 0.875, evalSplit: 'test', history };
  const p = new ProgressPoller({ intervalMs: 1000, timeoutMs: 100 }, () => {}, log, server(doc, []));
  await p.poll('ml/pre', 'u');
  assert.deepEqual(p.get('ml/pre'), { epoch: 10, step: 100, totalSteps: 100, loss: 5.5, knnTop1: 0.5, top1: 0.625, top5: 0.875,
    evalSplit: 'test', history, updateTime: doc.updatedAt });
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

test('a document announcing new augmentation grids: both PNGs fetched once per step; a failed fetch never blocks progress', async () => {
  const base = { ...initialProgress({ uid: 'pre', worldSize: 2, epochs: 10, totalSteps: 100 }), phase: 'training' };
  let doc: object = { ...base, step: 10, preview: { step: 10, epoch: 1 } };
  let pngsUp = true;
  const calls: string[] = [];
  const fetchFn: FetchFn = async (url) => {
    calls.push(url);
    if (url.endsWith('/progress')) return { ok: true, status: 200, json: async () => doc };
    const n = url.endsWith('augmentation1.png') ? 1 : 2;
    return { ok: pngsUp, status: pngsUp ? 200 : 404, json: async () => ({}),
      arrayBuffer: async () => Uint8Array.from([0x89, n]).buffer };
  };
  const p = new ProgressPoller({ intervalMs: 1, timeoutMs: 100 }, () => {}, log, fetchFn);
  await p.poll('ml/pre', 'http://10.0.0.1:29400/progress');
  const got = p.preview('ml/pre')!;
  assert.deepEqual([got.step, got.epoch, [...got.images.augmentation1], [...got.images.augmentation2]], [10, 1, [0x89, 1], [0x89, 2]]);
  assert.deepEqual(calls, ['http://10.0.0.1:29400/progress', 'http://10.0.0.1:29400/preview/augmentation1.png',
    'http://10.0.0.1:29400/preview/augmentation2.png']);
  doc = { ...base, step: 11, updatedAt: '2026-12-07T22:00:00.000Z', preview: { step: 10, epoch: 1 } };
  await p.poll('ml/pre', 'http://10.0.0.1:29400/progress');
  assert.equal(calls.length, 4, 'same grids: only the document was read');
  pngsUp = false;
  doc = { ...base, step: 20, updatedAt: '2026-12-07T22:00:01.000Z', preview: { step: 20, epoch: 2 } };
  await p.poll('ml/pre', 'http://10.0.0.1:29400/progress');
  assert.equal(p.get('ml/pre')?.step, 20, 'progress moved on');
  assert.equal(p.preview('ml/pre')?.step, 10, 'the previous grids stay until new ones are read');
});
