import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, f32, type TensorMap } from './safetensors.js';

const concat = (chunks: Uint8Array[]): Uint8Array => Buffer.concat(chunks);

test('byte layout: u64 LE header length, padded JSON header, little-endian data', () => {
  const file = concat(encodeSafetensors({ w: f32([2], [1, -2]) }, { step: '3' }));
  const headerLength = Number(Buffer.from(file).readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data starts 8-byte aligned');
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + headerLength)).toString());
  assert.deepEqual(header, { __metadata__: { step: '3' }, w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  // 1.0f = 0x3f800000, -2.0f = 0xc0000000, little-endian.
  assert.deepEqual([...file.subarray(8 + headerLength)], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
});

test('round trip of every dtype, scalars and empty tensors', () => {
  const tensors: TensorMap = {
    a: f32([2, 3], [1, 2, 3, 4, 5, 6.5]),
    b: { dtype: 'F64', shape: [1], data: Float64Array.of(Math.PI) },
    c: { dtype: 'I64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 40n) },
    d: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 255) },
    e: { dtype: 'F16', shape: [1], data: Uint16Array.of(0x3c00) },
    f: { dtype: 'I32', shape: [], data: Int32Array.of(-7) },
    g: f32([0, 4], []),
  };
  const { tensors: back, metadata } = decodeSafetensors(concat(encodeSafetensors(tensors, { k: 'v' })));
  assert.deepEqual(metadata, { k: 'v' });
  assert.deepEqual(back, tensors);
});

test('malformed files are rejected with the reason', () => {
  const good = concat(encodeSafetensors({ w: f32([4], [1, 2, 3, 4]) }));
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 1), 'x'), /x: header describes 16 data bytes, file has 15: truncated/);
  assert.throws(() => decodeSafetensors(good.subarray(0, 20), 'x'), /exceeds the file/);
  assert.throws(() => decodeSafetensors(good.subarray(0, 4), 'x'), /too short/);
  const badJson = Buffer.from(good);
  badJson[9] = 0x7b; // '{' where '"' belongs
  assert.throws(() => decodeSafetensors(badJson, 'x'), /header is not valid JSON/);
  assert.throws(() => encodeSafetensors({ w: f32([3], [1, 2]) }), /tensor w: 8 bytes of data for F32\[3\] \(needs 12\)/);
  const gap = Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(gap.length));
  assert.throws(() => decodeSafetensors(Buffer.concat([prefix, gap, Buffer.alloc(8)]), 'x'), /starts at 4, expected 0/);
});

const hasPythonSafetensors = spawnSync('python3', ['-c', 'import safetensors.numpy, numpy'], { stdio: 'ignore' }).status === 0;

test('the reference implementation (python safetensors) reads our files and we read its files', { skip: hasPythonSafetensors ? false : 'python3 with safetensors and numpy not installed (pip install safetensors numpy)' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'st-'));
  try {
    const ours = join(dir, 'ours.safetensors');
    const theirs = join(dir, 'theirs.safetensors');
    await writeFile(ours, concat(encodeSafetensors({ w: f32([2, 2], [0.5, -1, 3, 4]), n: { dtype: 'I64', shape: [1], data: BigInt64Array.of(42n) } }, { step: '9' })));
    const script = [
      'import sys, json, numpy as np',
      'from safetensors.numpy import load_file, save_file',
      'from safetensors import safe_open',
      't = load_file(sys.argv[1])',
      'meta = safe_open(sys.argv[1], "np").metadata()',
      'print(json.dumps({"w": t["w"].tolist(), "n": t["n"].tolist(), "dtype": str(t["w"].dtype), "meta": meta}))',
      'save_file({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([7], dtype=np.int32)}, sys.argv[2], metadata={"who": "python"})',
    ].join('\n');
    const run = spawnSync('python3', ['-c', script, ours, theirs], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { w: [[0.5, -1], [3, 4]], n: [42], dtype: 'float32', meta: { step: '9' } });
    const back = decodeSafetensors(await readFile(theirs), theirs);
    assert.deepEqual(back.metadata, { who: 'python' });
    assert.deepEqual(back.tensors.x, f32([2, 3], [0, 1, 2, 3, 4, 5]));
    assert.deepEqual(back.tensors.y, { dtype: 'I32', shape: [1], data: Int32Array.of(7) });
  } finally {
    await rm(dir, { recursive: true });
  }
});
