import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressDocument } from '../contract/index.js';
import { startProgressServer } from './progress-server.js';
import { ProgressTracker } from './progress-tracker.js';

test('tracker: throughput, mean loss and ETA over the window; eval and checkpoint fields', () => {
  let clock = 1_000_000;
  const tracker = new ProgressTracker({ uid: 'r', worldSize: 2, epochs: 2, stepsPerEpoch: 50, globalBatchSize: 256, window: 4, now: () => clock });
  assert.equal(tracker.document().phase, 'starting');
  assert.equal(tracker.document().totalSteps, 100);
  for (let step = 1; step <= 10; step++) {
    clock += 500; // 2 steps per second
    tracker.recordStep({ step, epoch: 0, loss: step, lr: 0.1 * step });
  }
  const doc = tracker.document();
  assert.equal(doc.phase, 'training');
  assert.equal(doc.imagesPerSecond, 512);
  assert.equal(doc.etaSeconds, 45); // 90 steps at 2 per second
  assert.equal(doc.loss, (6 + 7 + 8 + 9 + 10) / 5); // the window plus its start point
  tracker.recordEval({ split: 'valid', top1: 0.7, knnTop1: 0.65 });
  tracker.recordCheckpoint({ path: '/m/step-0000000010.safetensors', step: 10, epoch: 0, time: new Date(clock).toISOString() });
  tracker.setPhase('failed', 'peer 1 died');
  const last = ProgressDocument.parse(tracker.document());
  assert.deepEqual([last.evalSplit, last.top1, last.top5, last.knnTop1, last.lastCheckpoint?.step, last.message], ['valid', 0.7, null, 0.65, 10, 'peer 1 died']);
});

test('GET /progress serves the live document; /healthz; coded JSON errors', async () => {
  const tracker = new ProgressTracker({ uid: 'job-a', worldSize: 1, epochs: 1, stepsPerEpoch: 10, globalBatchSize: 8 });
  const server = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => tracker.document() });
  const base = `http://127.0.0.1:${server.port}`;
  try {
    let res = await fetch(`${base}/progress`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(ProgressDocument.parse(await res.json()).phase, 'starting');
    tracker.recordStep({ step: 1, epoch: 0, loss: 4.2, lr: 0.3 });
    const doc = ProgressDocument.parse(await (await fetch(`${base}/progress?x=1`)).json());
    assert.deepEqual([doc.step, doc.loss, doc.uid], [1, 4.2, 'job-a']);
    res = await fetch(`${base}/healthz`);
    assert.deepEqual([res.status, await res.json()], [200, { status: 'ok' }]);
    res = await fetch(`${base}/nope`);
    assert.deepEqual([res.status, (await res.json()).error.code], [404, 'NOT_FOUND']);
    res = await fetch(`${base}/progress`, { method: 'POST', body: '{}' });
    assert.deepEqual([res.status, res.headers.get('allow'), (await res.json()).error.code], [405, 'GET, HEAD', 'METHOD_NOT_ALLOWED']);
    // A port in use is a clear error naming the flag.
    await assert.rejects(startProgressServer({ port: server.port, host: '127.0.0.1', getProgress: () => tracker.document() }), /cannot listen on port \d+ \(change --progress-port\)/);
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(`${base}/healthz`), 'closed server refuses connections');
});

test('a failing document source gives a 500 JSON error, not a crash', async () => {
  const server = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => { throw new Error('boom'); } });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/progress`);
    assert.deepEqual([res.status, (await res.json()).error.code], [500, 'INTERNAL']);
  } finally {
    await server.close();
  }
});

test('GET /preview/<view>.png: 404 until a grid is drawn, then its PNG; the document says which step drew it', async () => {
  const tracker = new ProgressTracker({ uid: 'p', worldSize: 1, epochs: 2, stepsPerEpoch: 10, globalBatchSize: 8 });
  const server = await startProgressServer({ port: 0, host: '127.0.0.1', getProgress: () => tracker.document(),
    getPreview: (v) => tracker.previewImage(v) });
  const base = `http://127.0.0.1:${server.port}`;
  try {
    let res = await fetch(`${base}/preview/augmentation1.png`);
    assert.deepEqual([res.status, (await res.json()).error.code], [404, 'NO_PREVIEW']);
    const png = (n: number): { png: Uint8Array } => ({ png: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, n]) });
    tracker.recordPreview({ augmentation1: png(1), augmentation2: png(2) }, { step: 10, epoch: 1 });
    for (const [view, n] of [['augmentation1', 1], ['augmentation2', 2]] as const) {
      res = await fetch(`${base}/preview/${view}.png`);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [0x89, 0x50, 0x4e, 0x47, n]);
    }
    assert.equal((await fetch(`${base}/preview/augmentation3.png`)).status, 404);
    assert.deepEqual(ProgressDocument.parse(tracker.document()).preview, { step: 10, epoch: 1 });
  } finally {
    await server.close();
  }
});
