import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProgressDocument, ProgressHistory } from '../contract/index.js';
import { HistoryRecorder } from './progress-history.js';
import { ProgressTracker } from './progress-tracker.js';
import { startProgressServer } from './progress-server.js';

test('history: bounded; a full history keeps every other point and doubles its stride, from step 1 on', () => {
  const h = new HistoryRecorder(8);
  for (let step = 1; step <= 40; step++) h.addStep({ step, loss: 100 - step, lr: 0.1 });
  const s = h.snapshot();
  // 8 points fit: strides 1 -> 2 -> 4 -> 8 as 9, 17 and 33 points would have been kept.
  assert.equal(s.stride, 8);
  assert.deepEqual(s.train.map((p) => p.step), [8, 16, 24, 32, 40]);
  assert.deepEqual(s.train.map((p) => p.loss), [92, 84, 76, 68, 60]);
  assert.ok(ProgressHistory.safeParse(s).success);
});

const tracker = (dir: string, startStep: number, clock: () => number, warnings: string[] = []): ProgressTracker =>
  new ProgressTracker({ uid: 'r', worldSize: 2, epochs: 4, stepsPerEpoch: 10, globalBatchSize: 64, window: 2, now: clock,
    history: { file: join(dir, 'progress-history.json'), startStep, onWarning: (m) => warnings.push(m) } });

test('tracker: the document carries the curves; a resumed run continues them from its checkpoint and marks the resume', () => {
  const dir = mkdtempSync(join(tmpdir(), 'history-'));
  let clock = 1_000_000;
  const first = tracker(dir, 0, () => clock);
  for (let step = 1; step <= 25; step++) {
    clock += 100;
    first.recordStep({ step, epoch: Math.floor((step - 1) / 10), loss: 10 - step / 10, lr: step / 100 });
    if (step === 10 || step === 20) {
      first.recordCheckpoint({ path: `/m/step-${step}.json`, step, epoch: step / 10, time: new Date(clock).toISOString() });
      first.recordEval({ split: 'test', knnTop1: step / 100, top1: null });
    }
  }
  const live = ProgressDocument.parse(first.document());
  assert.equal(live.history?.train.length, 25);
  // Each point is what the document said at that step: the windowed loss and throughput.
  assert.equal(live.history?.train.at(-1)?.loss, live.loss);
  assert.equal(live.history?.train.at(-1)?.imagesPerSecond, live.imagesPerSecond);
  assert.deepEqual(live.history?.evals, [{ step: 10, split: 'test', knnTop1: 0.1 }, { step: 20, split: 'test', knnTop1: 0.2 }]);
  // The file holds what was recorded up to the last checkpoint and evaluation (steps 21-25 were never saved).
  const saved = ProgressHistory.parse(JSON.parse(readFileSync(join(dir, 'progress-history.json'), 'utf8')));
  assert.equal(saved.train.at(-1)?.step, 20);

  // A new gang resumes from the checkpoint at step 10 (say the one at 20 was corrupt): what came after it goes.
  clock += 5000;
  const second = tracker(dir, 10, () => clock);
  for (let step = 11; step <= 12; step++) second.recordStep({ step, epoch: 1, loss: 1, lr: 0.5 });
  const resumed = ProgressDocument.parse(second.document()).history!;
  assert.deepEqual(resumed.train.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(resumed.evals.map((e) => e.step), [10]);
  assert.deepEqual(resumed.resumes, [{ step: 10, time: new Date(clock).toISOString() }]);
  assert.equal(resumed.train[9]?.loss, live.history?.train[9]?.loss, 'the earlier gang\'s points are kept as they were');
});

test('tracker: a fresh run ignores an old file; an unreadable file is a warning and the curves restart at the resume', () => {
  const dir = mkdtempSync(join(tmpdir(), 'history-'));
  writeFileSync(join(dir, 'progress-history.json'), JSON.stringify({ stride: 1, train: [{ step: 1, loss: 1, lr: 1 }], evals: [], resumes: [] }));
  assert.deepEqual(tracker(dir, 0, Date.now).document().history?.train, []);
  writeFileSync(join(dir, 'progress-history.json'), '{"stride": 1, "tra');
  const warnings: string[] = [];
  const doc = tracker(dir, 30, () => 0, warnings).document();
  assert.deepEqual(doc.history, { stride: 1, train: [], evals: [], resumes: [{ step: 30, time: new Date(0).toISOString() }] });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /progress-history\.json: invalid progress history/);
});

test('progress server: close() waits until a polling reader has fetched the last document, and not without one', async () => {
  const t = new ProgressTracker({ uid: 'r', worldSize: 1, epochs: 1, stepsPerEpoch: 10, globalBatchSize: 8 });
  const lonely = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => t.document() });
  let t0 = Date.now();
  await lonely.close();
  assert.ok(Date.now() - t0 < 200, 'nobody ever polled: no wait');

  const server = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => t.document(), lingerMaxMs: 10_000 });
  const url = `http://127.0.0.1:${server.port}/progress`;
  await fetch(url);
  await new Promise((r) => setTimeout(r, 200)); // the reader polls every ~200 ms
  await fetch(url);
  t.recordEval({ split: 'test', knnTop1: 0.75 });
  t.setPhase('finished');
  let closed = false;
  t0 = Date.now();
  const closing = server.close().then(() => { closed = true; });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed, false, 'still serving: the reader has not seen the finished document');
  const last = ProgressDocument.parse(await (await fetch(url)).json());
  assert.deepEqual([last.phase, last.knnTop1], ['finished', 0.75]);
  await closing;
  assert.ok(Date.now() - t0 < 1000, `closed once it was read (${Date.now() - t0} ms)`);

  // A reader that stops polling is waited for about two and a half of its intervals, not forever.
  const t2 = new ProgressTracker({ uid: 'r', worldSize: 1, epochs: 1, stepsPerEpoch: 10, globalBatchSize: 8 });
  const gone = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => t2.document() });
  const url2 = `http://127.0.0.1:${gone.port}/progress`;
  await fetch(url2);
  await new Promise((r) => setTimeout(r, 100));
  await fetch(url2);
  t2.setPhase('finished');
  t0 = Date.now();
  await gone.close();
  const waited = Date.now() - t0;
  assert.ok(waited >= 200 && waited < 1000, `waited ${waited} ms for a reader polling every ~100 ms`);
});
