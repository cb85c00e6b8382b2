import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { crc32c, maskedCrc32c } from './crc32c.js';
import { decodeEvent } from './event-proto.js';
import { EventWriter } from './event-writer.js';
import { decodeRecords, encodeRecord } from './tfrecord.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('CRC-32C check value and the masked form match TensorBoard\'s implementation', () => {
  const digits = Buffer.from('123456789');
  assert.equal(crc32c(digits), 0xe3069283); // the standard CRC-32C check value
  // Values printed by tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
  assert.equal(maskedCrc32c(digits), 3347755237);
  const length24 = Buffer.alloc(8);
  length24.writeBigUInt64LE(24n);
  assert.equal(maskedCrc32c(length24), 575373219);
});

test('TFRecord framing round-trips and detects corruption', () => {
  const records = [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(300, 7)];
  const file = Buffer.concat(records.map(encodeRecord));
  assert.deepEqual(decodeRecords(file).map((r) => Buffer.from(r)), records);
  const flipped = Buffer.from(file);
  flipped[14] ^= 1; // inside the first record's data
  assert.throws(() => decodeRecords(flipped, 'f'), /f: bad data CRC at byte 0/);
  const badLength = Buffer.from(file);
  badLength[0] ^= 1;
  assert.throws(() => decodeRecords(badLength, 'f'), /bad length CRC at byte 0/);
  assert.throws(() => decodeRecords(file.subarray(0, file.length - 2), 'f'), /truncated record at byte 37/);
});

test('event file: the records read back with valid CRCs as version + scalar events', () =>
  withDir(async (dir) => {
    const writer = EventWriter.open(dir, 'run-a', new Date(1_700_000_000_000));
    writer.addScalar('train/loss', 5.25, 1, 1_700_000_001);
    writer.addScalars({ 'train/lr': 0.3, 'train/images_per_second': 812.5 }, 2, 1_700_000_002);
    writer.close();
    const files = await readdir(join(dir, 'run-a'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^events\.out\.tfevents\.1700000000\./);
    const events = decodeRecords(await readFile(writer.path), writer.path).map(decodeEvent);
    assert.deepEqual(events, [
      { wall_time: 1_700_000_000, file_version: 'brain.Event:2' },
      { wall_time: 1_700_000_001, step: 1, summary: { value: [{ tag: 'train/loss', simple_value: 5.25 }] } },
      {
        wall_time: 1_700_000_002,
        step: 2,
        summary: { value: [{ tag: 'train/lr', simple_value: Math.fround(0.3) }, { tag: 'train/images_per_second', simple_value: 812.5 }] },
      },
    ]);
    assert.throws(() => writer.addScalar('x', 1, 3), /is closed/);
  }));

const hasTensorBoard = spawnSync('python3', ['-c', 'import tensorboard'], { stdio: 'ignore' }).status === 0;

test('real TensorBoard reads the scalars', { skip: hasTensorBoard ? false : 'python3 tensorboard not installed (pip install tensorboard)' }, () =>
  withDir(async (dir) => {
    const writer = EventWriter.open(dir, 'run-b');
    for (let step = 0; step < 5; step++) writer.addScalars({ 'train/loss': 6 - step * 0.5, 'eval/top1': step / 10 }, step);
    writer.close();
    const script = [
      'import sys, json',
      'from tensorboard.backend.event_processing.event_accumulator import EventAccumulator',
      'acc = EventAccumulator(sys.argv[1]); acc.Reload()',
      'tags = acc.Tags()["scalars"]',
      'print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in sorted(tags)}))',
    ].join('\n');
    const run = spawnSync('python3', ['-c', script, join(dir, 'run-b')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const scalars = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(scalars['train/loss'], [[0, 6], [1, 5.5], [2, 5], [3, 4.5], [4, 4]]);
    assert.deepEqual(scalars['eval/top1'].map(([s, v]: [number, number]) => [s, Math.round(v * 1e6) / 1e6]), [[0, 0], [1, 0.1], [2, 0.2], [3, 0.3], [4, 0.4]]);
  }));

test('real TensorBoard reads an image summary back: size, colour space and the PNG\'s pixels', { skip: hasTensorBoard ? false : 'python3 tensorboard not installed (pip install tensorboard)' }, () =>
  withDir(async (dir) => {
    // A 3x2 RGB PNG with known pixels, encoded by sharp (the encoder the trainer's grids use).
    const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const png = await sharp(pixels, { raw: { width: 3, height: 2, channels: 3 } }).png().toBuffer();
    const writer = EventWriter.open(dir, 'run-img');
    writer.addImage('augmentation1', { png, height: 2, width: 3, channels: 3 }, 7);
    assert.throws(() => writer.addImage('bad', { png, height: 2, width: 3, channels: 2 }, 7), /bad: 2 channels, expected 1, 3 or 4/);
    writer.close();
    const script = [
      'import sys, json, io',
      'from tensorboard.backend.event_processing.event_accumulator import EventAccumulator',
      'from PIL import Image',
      'acc = EventAccumulator(sys.argv[1]); acc.Reload()',
      'e = acc.Images("augmentation1")[0]',
      'img = Image.open(io.BytesIO(e.encoded_image_string))',
      'print(json.dumps({"tags": acc.Tags()["images"], "step": e.step, "size": [e.width, e.height], "mode": img.mode, "pixels": list(img.tobytes())}))',
    ].join('\n');
    const run = spawnSync('python3', ['-c', script, join(dir, 'run-img')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const got = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(got.tags, ['augmentation1']);
    assert.equal(got.step, 7);
    assert.deepEqual(got.size, [3, 2]);
    assert.equal(got.mode, 'RGB');
    assert.deepEqual(got.pixels, [...pixels]);
  }));
