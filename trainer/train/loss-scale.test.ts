// The dynamic loss scale's rule, as PyTorch's GradScaler applies it: x0.5 and a reset run on an overflow, x2 after
// growthInterval good steps in a row; its state round-trips, and a bad saved state is refused by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DynamicLossScale, LossScaleUnderflowError, MIN_LOSS_SCALE } from './loss-scale.js';

test('an overflow halves the scale and restarts the run of good steps; a full run doubles it', () => {
  const s = new DynamicLossScale({ initScale: 8, growthInterval: 3 });
  assert.deepEqual([s.update(true, 0), s.update(true, 1)], [true, true]);
  assert.equal(s.update(false, 2), false);
  assert.deepEqual(s.state(), { scale: 4, goodSteps: 0 });
  for (let i = 3; i < 5; i++) s.update(true, i);
  assert.equal(s.scale, 4, 'two good steps after the overflow are not yet a run of 3');
  s.update(true, 5);
  assert.deepEqual(s.state(), { scale: 8, goodSteps: 0 });
  assert.equal(new DynamicLossScale().scale, 2 ** 16);
});

test('the state round-trips; a bad saved state is refused; a scale that underflows stops training with the fix', () => {
  const s = new DynamicLossScale();
  s.load({ scale: 512, goodSteps: 7 });
  assert.deepEqual(s.state(), { scale: 512, goodSteps: 7 });
  assert.throws(() => s.load({ scale: 0, goodSteps: 0 }), /bad saved scale 0/);
  assert.throws(() => s.load({ scale: 2, goodSteps: -1 }), /bad saved good-step count -1/);
  const tiny = new DynamicLossScale({ initScale: MIN_LOSS_SCALE });
  assert.throws(() => tiny.update(false, 41), (e: Error) => e instanceof LossScaleUnderflowError && /at step 41.*use --precision=fp32/.test(e.message));
});
