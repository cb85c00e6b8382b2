// Per-step TensorBoard scalars, written to a real event file and read back: one point every --log-interval steps with
// the mean loss of those steps, the last step's lr and images/s over their wall time (a pause between epochs excluded).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeEvent } from './event-proto.js';
import { EventWriter } from './event-writer.js';
import { StepScalars } from './step-scalars.js';
import { decodeRecords } from './tfrecord.js';

async function pointsOf(path: string): Promise<Map<string, Array<[number, number]>>> {
  const out = new Map<string, Array<[number, number]>>();
  for (const e of decodeRecords(await readFile(path), path).map(decodeEvent)) {
    for (const v of e.summary?.value ?? []) {
      if (!('simple_value' in v)) continue;
      out.set(v.tag, [...(out.get(v.tag) ?? []), [Number(e.step), v.simple_value]]);
    }
  }
  return out;
}

test('every 3 steps: the mean loss of those steps, the last lr, images/s over their time; a pause between epochs is not counted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'step-scalars-'));
  try {
    const writer = EventWriter.open(dir, 'run');
    let clock = 0;
    const scalars = new StepScalars(writer, 3, () => clock);
    scalars.startClock();
    // Steps 1-7, 500 ms each, 64 images each; after step 4 an evaluation of 60 s, then the clock restarts.
    for (let step = 1; step <= 7; step++) {
      if (step === 5) {
        clock += 60_000;
        scalars.startClock();
      }
      clock += 500;
      scalars.record({ step, loss: 10 - step, lr: step / 100, images: 64 });
    }
    writer.close();
    const points = await pointsOf(writer.path);
    assert.deepEqual([...points.keys()].sort(), ['step/images_per_second', 'step/loss', 'step/lr']);
    // Points at steps 3 and 6 only; step 7 waits for step 9.
    assert.deepEqual(points.get('step/loss'), [[3, 8], [6, 5]]); // mean of 9, 8, 7 and of 6, 5, 4
    assert.deepEqual(points.get('step/lr'), [[3, Math.fround(0.03)], [6, Math.fround(0.06)]]);
    assert.deepEqual(points.get('step/images_per_second'), [[3, 128], [6, 128]]); // 3 x 64 images in 1.5 s, pause excluded
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('interval 0 or no writer (a worker rank, --debug-step) writes nothing', () => {
  const got: number[] = [];
  const sink = { addScalars: (_v: Readonly<Record<string, number>>, step: number): void => void got.push(step) };
  const off = new StepScalars(sink, 0);
  for (let step = 1; step <= 5; step++) off.record({ step, loss: 1, lr: 1, images: 1 });
  assert.deepEqual(got, []);
  const none = new StepScalars(undefined, 1);
  none.record({ step: 1, loss: 1, lr: 1, images: 1 });
  const every = new StepScalars(sink, 1);
  for (let step = 1; step <= 3; step++) every.record({ step, loss: 1, lr: 1, images: 1 });
  assert.deepEqual(got, [1, 2, 3]);
});
