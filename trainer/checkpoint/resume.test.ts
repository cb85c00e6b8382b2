// A resume over corrupt checkpoints: the newest valid one is loaded, the corrupt ones are moved aside byte for byte,
// and what the resumed run then writes under the same names (and prunes) never touches them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORRUPT_FOLDER, resumePoint } from './resume.js';
import { f32 } from './safetensors.js';
import { saveCheckpoint, type CheckpointData } from './store.js';

const sample = (step: number): CheckpointData => ({
  step, epoch: 0, weights: { w: f32([2], [step, 1]) }, optimizer: {}, rng: [], config: {},
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-resume-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function flipLastByte(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  bytes[bytes.length - 1]! ^= 0xff;
  await writeFile(path, bytes);
  return bytes;
}

test('corrupt newest checkpoints: resume from the newest valid one; the corrupt ones moved aside, kept as they were', () =>
  withDir(async (dir) => {
    for (const step of [4, 8, 12]) await saveCheckpoint(dir, sample(step));
    const bad12 = await flipLastByte(join(dir, 'step-0000000012.safetensors'));
    await truncate(join(dir, 'step-0000000008.json'), 20);
    const manifest8 = await readFile(join(dir, 'step-0000000008.json'));
    const at = new Date('2026-12-08T01:02:03.456Z');
    const r = await resumePoint(dir, at);
    assert.equal(r.checkpoint?.step, 4);
    assert.deepEqual(r.corrupt.map((c) => c.step), [12, 8]);
    assert.match(r.corrupt[0]!.reason, /step-0000000012\.safetensors: sha256 .* \(corrupt\)/);
    assert.match(r.corrupt[1]!.reason, /step-0000000008\.json: unreadable or invalid manifest/);
    assert.equal(r.movedTo, join(dir, CORRUPT_FOLDER, '2026-12-08T01-02-03-456Z'));
    assert.deepEqual((await readdir(r.movedTo!)).sort(),
      ['step-0000000008.json', 'step-0000000008.safetensors', 'step-0000000012.json', 'step-0000000012.safetensors']);
    // The resumed run writes steps 8 and 12 again and prunes to one checkpoint: the moved files are untouched.
    await saveCheckpoint(dir, sample(8), { keep: 1 });
    await saveCheckpoint(dir, sample(12), { keep: 1 });
    assert.deepEqual(await readFile(join(r.movedTo!, 'step-0000000012.safetensors')), bad12);
    assert.deepEqual(await readFile(join(r.movedTo!, 'step-0000000008.json')), manifest8);
    assert.deepEqual((await readdir(dir)).sort(), [CORRUPT_FOLDER, 'step-0000000012.json', 'step-0000000012.safetensors']);
    // The next resume finds the new checkpoint and nothing corrupt (the reported ones are out of the way).
    const again = await resumePoint(dir);
    assert.deepEqual([again.checkpoint?.step, again.corrupt.length, again.movedTo], [12, 0, undefined]);
  }));

test('only corrupt checkpoints: nothing to resume from, every one of them kept', () =>
  withDir(async (dir) => {
    for (const step of [4, 8]) await saveCheckpoint(dir, sample(step));
    await flipLastByte(join(dir, 'step-0000000004.safetensors'));
    await flipLastByte(join(dir, 'step-0000000008.safetensors'));
    const r = await resumePoint(dir);
    assert.equal(r.checkpoint, undefined);
    assert.deepEqual(r.corrupt.map((c) => c.step), [8, 4]);
    assert.equal((await readdir(r.movedTo!)).length, 4);
    // A fresh run's checkpoints (step 4 again, keep 1) leave them alone.
    await saveCheckpoint(dir, sample(4), { keep: 1 });
    await saveCheckpoint(dir, sample(8), { keep: 1 });
    assert.equal((await readdir(r.movedTo!)).length, 4);
  }));
