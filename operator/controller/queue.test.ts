import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from './queue.js';

test('a key added many times is processed once', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('a');
  q.add('b');
  assert.equal(q.depth(), 2);
  const seen: string[] = [];
  const run = q.run(2, async (k) => {
    seen.push(k);
  });
  await sleep(20);
  q.shutdown();
  await run;
  assert.deepEqual(seen.sort(), ['a', 'b']);
});

test('one key is never processed by two workers at once; an add during processing runs again after', async () => {
  const q = new WorkQueue();
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const run = q.run(4, async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    if (runs === 1) q.add('k'); // arrives while processing
    await sleep(10);
    active--;
  });
  q.add('k');
  await sleep(60);
  q.shutdown();
  await run;
  assert.equal(maxActive, 1);
  assert.equal(runs, 2);
});

test('failures back off exponentially per key and forget() resets', () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
  assert.deepEqual([1, 2, 3, 4].map(() => q.addRateLimited('x')), [10, 20, 40, 50]);
  q.forget('x');
  assert.equal(q.addRateLimited('x'), 10);
  q.shutdown();
});

test('addAfter: the earliest timer wins and fires once', async () => {
  const q = new WorkQueue();
  q.addAfter('t', 200);
  q.addAfter('t', 10);
  q.addAfter('t', 100);
  await sleep(40);
  assert.equal(q.depth(), 1);
  await sleep(200);
  assert.equal(q.depth(), 1);
  q.shutdown();
});
