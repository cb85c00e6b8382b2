// EarlyStopper's decisions: patience counts evaluations since the best, a tie is no improvement, and a resumed run
// continues the count from the history beside the checkpoints without the evaluations after its checkpoint.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EarlyStopper, bestStepIn, readEarlyStopHistory } from './early-stop.js';

test('stops after `patience` evaluations without a strictly better kNN top-1; a tie keeps the earlier best', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'early-stop-'));
  try {
    const s = await EarlyStopper.open(dir, 2, 0);
    assert.equal(s.bestStep, undefined);
    const seen = [[10, 0.5], [20, 0.6], [30, 0.6], [40, 0.59]].map(([step, v]) => s.observe(step, v));
    assert.deepEqual(seen.map((v) => [v.bestStep, v.sinceBest, v.stop]), [[10, 0, false], [20, 0, false], [20, 1, false], [20, 2, true]]);
    await s.save(dir);
    assert.equal(await bestStepIn(dir), 20);
    // A gang resumed from step 30 (the step-40 checkpoint lost): step 40's evaluation is dropped and run again.
    const resumed = await EarlyStopper.open(dir, 2, 30);
    assert.deepEqual(resumed.verdict(), { bestStep: 20, bestKnnTop1: 0.6, sinceBest: 1, stop: false });
    assert.equal(resumed.observe(40, 0.61).bestStep, 40);
    // A fresh run (step 0) ignores an old history; a folder without one has none.
    assert.equal((await EarlyStopper.open(dir, 2, 0)).bestStep, undefined);
    assert.equal(await readEarlyStopHistory(join(dir, 'absent')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
