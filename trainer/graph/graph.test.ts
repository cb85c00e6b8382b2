import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from './graph.js';
import * as op from './ops.js';
import { compileForTest, randn } from './testing/ort.js';
import { convGeometry, convInputGrad } from './rules/conv.js';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

test('forward ops give the values a plain JS computation gives', async () => {
  const g = new Graph('fwd');
  const x = g.input('x', [2, 3]);
  const w = g.param('w', [4, 3]);
  const b = g.param('b', [4]);
  const y = op.linear(x, w, b);
  g.output('y', y);
  g.output('s', op.reduceSum(op.relu(op.sub(op.mul(y, 2), 1)), [1]));
  g.output('sm', op.softmax(y, 1));
  const xs = randn(6, 1);
  const ws = randn(12, 2);
  const bs = randn(4, 3);
  const r = await (await compileForTest(g)).run({ x: xs, w: ws, b: bs });
  for (let n = 0; n < 2; n++) {
    let s = 0;
    const row: number[] = [];
    for (let o = 0; o < 4; o++) {
      let acc = bs[o]!;
      for (let i = 0; i < 3; i++) acc += xs[n * 3 + i]! * ws[o * 3 + i]!;
      assert.ok(Math.abs(r['y']![n * 4 + o]! - acc) < 1e-5);
      s += Math.max(2 * acc - 1, 0);
      row.push(acc);
    }
    assert.ok(Math.abs(r['s']![n]! - s) < 1e-5);
    const z = row.reduce((a, v) => a + Math.exp(v), 0);
    row.forEach((v, o) => assert.ok(Math.abs(r['sm']![n * 4 + o]! - Math.exp(v) / z) < 1e-6));
  }
});

test('shape inference: conv, pool, reshape, concat, slice', () => {
  const g = new Graph('shapes');
  const x = g.input('x', [8, 3, 32, 32]);
  const w = g.param('w', [16, 3, 3, 3]);
  assert.deepEqual(op.conv2d(x, w, { stride: 2, padding: 1 }).shape, [8, 16, 16, 16]);
  assert.deepEqual(op.conv2d(x, w, { dilation: 2, padding: 2 }).shape, [8, 16, 32, 32]);
  assert.deepEqual(op.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }).shape, [8, 3, 16, 16]);
  assert.deepEqual(op.globalAvgPool(x).shape, [8, 3]);
  assert.deepEqual(op.flatten(x).shape, [8, 3072]);
  assert.deepEqual(op.concat([x, x], 1).shape, [8, 6, 32, 32]);
  assert.deepEqual(op.slice(x, [1, 0], [-1, 32], [2, 3], [1, 3]).shape, [8, 3, 30, 11]);
  assert.deepEqual(op.add(g.input('a', [3, 1, 5]), g.input('b', [4, 1])).shape, [3, 4, 5]);
});

test('bad shapes fail at build time with the shapes in the message', () => {
  const g = new Graph('bad');
  const x = g.input('x', [2, 3]);
  assert.throws(() => op.matmul(x, g.input('y', [4, 5])), /inner dims differ: \[2,3\] @ \[4,5\]/);
  assert.throws(() => op.add(x, g.input('z', [4])), /do not broadcast/);
  assert.throws(() => op.reshape(x, [5]), /cannot reshape \[2,3\] to \[5\]/);
  assert.throws(() => g.input('x', [1]), /already used/);
  g.input('neg_5', [2, 3]); // a user name that looks like a generated one does not clash later
  for (let i = 0; i < 8; i++) op.neg(x);
  const other = new Graph('other');
  assert.throws(() => op.add(x, other.input('q', [2, 3])), /belongs to graph/);
});

test('toOnnx keeps only nodes the requested outputs need, and output names can differ from value names', async () => {
  const g = new Graph('prune');
  const x = g.input('x', [3]);
  g.output('double', op.mul(x, 2));
  g.output('expensive', op.exp(op.mul(x, 3)));
  const small = g.toOnnx({ outputs: ['double'] });
  const full = g.toOnnx();
  assert.ok(small.length < full.length);
  const r = await (await compileForTest(g, ['double'])).run({ x: Float32Array.from([1, 2, 3]) });
  assert.deepEqual(Array.from(r['double']!), [2, 4, 6]);
  assert.equal(r['expensive'], undefined);
});

test('toOnnx writes opset 17, or 18 where a strided input gradient lowers to Col2Im (targets without Col2Im get ConvTranspose)', async () => {
  const model = (bytes: Uint8Array): { opset: number; ops: string[] } => {
    const m = onnx.ModelProto.decode(bytes);
    return { opset: Number(m.opsetImport[0]!.version), ops: (m.graph?.node ?? []).map((n) => String(n.opType)) };
  };
  const g = new Graph('opsets');
  const x = g.input('x', [2, 8, 6, 6]);
  const w = g.param('w', [16, 8, 3, 3]);
  const dy = g.input('dy', [2, 16, 3, 3]);
  g.output('m', op.reduceMean(x, [2, 3]));
  g.output('dx', convInputGrad(dy, w, convGeometry(x.shape, w.shape, { stride: 2, padding: 1 }), 'col2im-op'));
  const plain = model(g.toOnnx({ outputs: ['m'] }));
  assert.equal(plain.opset, 17);
  const cpu = model(g.toOnnx());
  assert.equal(cpu.opset, 18);
  assert.ok(cpu.ops.includes('Col2Im') && !cpu.ops.includes('ConvTranspose'), cpu.ops.join(' '));
  const other = model(g.toOnnx({ target: 'webgpu' }));
  assert.equal(other.opset, 17);
  assert.ok(other.ops.includes('ConvTranspose') && !other.ops.includes('Col2Im'), other.ops.join(' '));
  const xs = randn(2 * 8 * 36, 1);
  const means = Array.from({ length: 16 }, (_v, i) => xs.slice(i * 36, (i + 1) * 36).reduce((a, b) => a + b, 0) / 36);
  const feeds = { x: xs, w: randn(16 * 8 * 9, 2), dy: randn(2 * 16 * 9, 3) };
  const a = await (await compileForTest(g)).run(feeds);
  const b = await (await compileForTest(g, undefined, { target: 'webgpu' })).run(feeds);
  for (const r of [a, b]) Array.from(r['m']!).forEach((m, i) => assert.ok(Math.abs(m - means[i]!) < 1e-6, `mean[${i}] ${m} vs ${means[i]}`));
  Array.from(a['dx']!).forEach((v, i) => assert.ok(Math.abs(v - b['dx']![i]!) < 1e-5, `dx[${i}]: Col2Im ${v}, ConvTranspose ${b['dx']![i]}`));
});

test('batchNormTrain lowers to primitives and returns batch statistics (biased variance)', async () => {
  const g = new Graph('bn');
  const x = g.input('x', [4, 2]);
  const { y, mean, variance } = op.batchNormTrain(x, g.param('gamma', [2]), g.param('beta', [2]), 0);
  g.output('y', y); g.output('mean', mean); g.output('var', variance);
  const xs = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]);
  const r = await (await compileForTest(g)).run({ x: xs, gamma: Float32Array.from([1, 2]), beta: Float32Array.from([0, 1]) });
  assert.deepEqual(Array.from(r['mean']!), [2.5, 25]);
  assert.deepEqual(Array.from(r['var']!), [1.25, 125]);
  const expect0 = (1 - 2.5) / Math.sqrt(1.25);
  assert.ok(Math.abs(r['y']![0]! - expect0) < 1e-6);
  assert.ok(Math.abs(r['y']![1]! - (2 * expect0 + 1)) < 1e-5);
});
