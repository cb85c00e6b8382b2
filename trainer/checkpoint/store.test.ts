import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { f32 } from './safetensors.js';
import { latestValid, listManifests, loadCheckpoint, saveCheckpoint, type CheckpointData } from './store.js';

function sample(step: number): CheckpointData {
  return {
    step,
    epoch: Math.floor(step / 10),
    weights: { 'conv1.weight': f32([2, 2], [step, 1, 2, 3]), 'bn.running_mean': f32([2], [0.5, step]) },
    optimizer: { 'conv1.weight.momentum': f32([2, 2], [0.1, 0.2, 0.3, step]) },
    rng: [1, 2, 3, step],
    config: { batchSize: 256, uid: 'run' },
    extra: { bestTop1: 0.5 },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function collect(): { warnings: string[]; sink: (m: string) => void } {
  const warnings: string[] = [];
  return { warnings, sink: (m) => warnings.push(m) };
}

test('save then load round-trips weights, optimizer state, step, epoch, RNG, config', () =>
  withDir(async (dir) => {
    const saved = await saveCheckpoint(dir, sample(20));
    assert.match(saved.tensorPath, /step-0000000020\.safetensors$/);
    const loaded = await latestValid(dir);
    assert.ok(loaded);
    const expected = sample(20);
    assert.deepEqual(loaded.weights, expected.weights);
    assert.deepEqual(loaded.optimizer, expected.optimizer);
    assert.deepEqual([loaded.step, loaded.epoch, loaded.rng, loaded.config, loaded.extra], [20, 2, expected.rng, expected.config, expected.extra]);
    const manifest = JSON.parse(await readFile(saved.manifestPath, 'utf8'));
    assert.equal(manifest.sha256, saved.sha256);
    assert.equal(manifest.bytes, (await readFile(saved.tensorPath)).length);
    assert.equal(await latestValid(join(dir, 'absent')), undefined);
  }));

test('latestValid picks the newest step (not the newest file), and keep=K prunes the rest', () =>
  withDir(async (dir) => {
    for (const step of [5, 100, 30]) await saveCheckpoint(dir, sample(step));
    assert.equal((await latestValid(dir))?.step, 100);
    await saveCheckpoint(dir, sample(200), { keep: 2 });
    assert.deepEqual((await readdir(dir)).sort(), [
      'step-0000000100.json', 'step-0000000100.safetensors', 'step-0000000200.json', 'step-0000000200.safetensors',
    ]);
  }));

test('a truncated tensor file is detected and skipped with a warning; the previous one is loaded', () =>
  withDir(async (dir) => {
    await saveCheckpoint(dir, sample(1));
    const newest = await saveCheckpoint(dir, sample(2));
    await truncate(newest.tensorPath, newest.bytes - 3);
    const { warnings, sink } = collect();
    const loaded = await latestValid(dir, sink);
    assert.equal(loaded?.step, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /step-0000000002\.safetensors: \d+ bytes, manifest says \d+ \(truncated\?\)/);
  }));

test('a flipped bit is caught by the sha256 and never loaded', () =>
  withDir(async (dir) => {
    await saveCheckpoint(dir, sample(1));
    const newest = await saveCheckpoint(dir, sample(2));
    const bytes = await readFile(newest.tensorPath);
    bytes[bytes.length - 1] ^= 0x01; // same size, one bit of the last weight
    await writeFile(newest.tensorPath, bytes);
    const { warnings, sink } = collect();
    assert.equal((await latestValid(dir, sink))?.step, 1);
    assert.match(warnings[0], /sha256 [0-9a-f]+ does not match .* \(corrupt\)/);
    await assert.rejects(loadCheckpoint(newest.manifestPath), /corrupt/);
  }));

test('a truncated manifest, a missing tensor file, or only corrupt checkpoints: skipped, never loaded', () =>
  withDir(async (dir) => {
    const a = await saveCheckpoint(dir, sample(1));
    const b = await saveCheckpoint(dir, sample(2));
    const c = await saveCheckpoint(dir, sample(3));
    await truncate(c.manifestPath, 40);
    await rm(b.tensorPath);
    const { warnings, sink } = collect();
    assert.equal((await latestValid(dir, sink))?.step, 1);
    assert.match(warnings[0], /step-0000000003\.json: unreadable or invalid manifest/);
    assert.match(warnings[1], /step-0000000002\.safetensors: missing tensor file/);
    await truncate(a.tensorPath, 10);
    assert.equal(await latestValid(dir, sink), undefined);
    assert.equal(warnings.length, 5); // 2 from before, then all 3 checkpoints rejected
  }));

test('a write that fails leaves the previous checkpoint intact and no temp files behind', () =>
  withDir(async (dir) => {
    await saveCheckpoint(dir, sample(1));
    // A real failure at the commit point: a non-empty directory sits where the new manifest must go.
    await mkdir(join(dir, 'step-0000000002.json', 'blocker'), { recursive: true });
    await assert.rejects(saveCheckpoint(dir, sample(2)), (err: Error) => {
      assert.match(err.message, /saving checkpoint step 2 to .* failed/);
      assert.match(String((err.cause as Error).message), /atomic write of .*step-0000000002\.json failed/);
      return true;
    });
    const { warnings, sink } = collect();
    const loaded = await latestValid(dir, sink);
    assert.equal(loaded?.step, 1);
    assert.deepEqual(loaded?.weights, sample(1).weights);
    assert.ok(!(await readdir(dir)).some((n) => n.includes('.tmp-')), 'temp files cleaned up');
    // Encoding errors fail before any file is touched.
    const bad = { ...sample(3), weights: { w: f32([3], [1]) } };
    await assert.rejects(saveCheckpoint(dir, bad), /needs 12/);
    assert.deepEqual(await listManifests(dir), [join(dir, 'step-0000000002.json'), join(dir, 'step-0000000001.json')]);
    assert.equal(warnings.length, 1, 'the blocker directory is reported, not loaded');
  }));

test('a writer killed (SIGKILL) mid-write loses nothing: the newest manifest always verifies', (t) =>
  withDir(async (dir) => {
    // The fixture beside this file: .ts under tsx, compiled .js under dist/.
    const fixture = join(import.meta.dirname, `crash-writer.fixture${extname(import.meta.filename)}`);
    const loader = fixture.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...loader, fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastSaved = 0;
    // Kill the moment a temp file appears after the 3rd save: that is, mid-write.
    const watcher = watch(dir, (_event, name) => {
      if (lastSaved >= 3 && name?.includes('.tmp-') && !child.killed) child.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.on('data', (chunk: Buffer) => {
        lastSaved = Number(/saved (\d+)\s*$/.exec(chunk.toString())?.[1] ?? lastSaved);
        if (lastSaved >= 6) child.kill('SIGKILL'); // the watcher missed its chance; still a valid test
      });
    });
    watcher.close();
    const files = await readdir(dir);
    t.diagnostic(`after the kill: ${files.join(' ')}`);
    const { warnings, sink } = collect();
    const loaded = await latestValid(dir, sink);
    assert.deepEqual(warnings, [], 'no partial checkpoint is ever visible');
    assert.ok(loaded && loaded.step >= lastSaved, `loaded ${loaded?.step}, last saved ${lastSaved}`);
    const w = loaded.weights.w.data as Float32Array;
    assert.ok(w.every((v) => v === loaded.step), "tensor contents belong to the manifest's step");
    // The next save clears what the dead writer left behind.
    await saveCheckpoint(dir, sample(50), { keep: 2 });
    assert.ok(!(await readdir(dir)).some((n) => n.includes('.tmp-')));
  }));

test('the Polyak average round-trips beside the weights, and is absent from checkpoints without one', () =>
  withDir(async (dir) => {
    const ema = { 'conv1.weight': f32([2, 2], [9, 8, 7, 6]), 'bn.running_mean': f32([2], [0.25, 0.75]) };
    await saveCheckpoint(dir, { ...sample(3), ema });
    const loaded = await latestValid(dir);
    assert.deepEqual(loaded?.ema, ema);
    assert.deepEqual(loaded?.weights, sample(3).weights, 'the live weights stay apart from the average');
    await saveCheckpoint(dir, sample(4));
    assert.equal((await latestValid(dir))?.ema, undefined);
  }));

test('a protected step (--early-stop\'s best) survives rotation; the newest K are kept besides it', () =>
  withDir(async (dir) => {
    for (const step of [10, 20, 30, 40]) await saveCheckpoint(dir, sample(step), { keep: 2, protect: [10] });
    const manifests = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    assert.deepEqual(manifests, ['step-0000000010.json', 'step-0000000030.json', 'step-0000000040.json']);
    assert.equal((await loadCheckpoint(join(dir, 'step-0000000010.json'))).step, 10, 'its tensors are kept too');
    await saveCheckpoint(dir, sample(50), { keep: 2 }); // no longer protected: rotated away
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.json')).sort(), ['step-0000000040.json', 'step-0000000050.json']);
  }));
