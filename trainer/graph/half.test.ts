// Host half-precision conversion against ONNX Runtime's own Cast (an independent implementation), and float16
// constants serialized as the ONNX spec lays them out (scalars in int32_data, tensors as raw bits).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from './graph.js';
import { fromHalfBits, toHalfBits } from './half.js';
import * as op from './ops.js';
import { compileForTest, randn } from './testing/ort.js';

// Edge cases: the largest half (65504), the first value that rounds to inf (65520), ties to even (2049, 2051 lie
// halfway between halves 2 apart), the smallest subnormal 2^-24 and half of it (a tie that rounds to zero), NaN.
const EDGES = [0, -0, 1, -1, 65504, 65519.99, 65520, -1e6, 2049, 2051, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6.1e-5, 1 / 3, NaN, Infinity];

test('toHalfBits rounds as ONNX Runtime\'s Cast to float16 does, edges included', async () => {
  const xs = Float32Array.from([...EDGES, ...randn(2000, 7, 8), ...randn(200, 8, 1e-5), ...randn(200, 9, 7e4)]);
  const g = new Graph('half_cast', 'cpu');
  g.output('y', op.cast(op.cast(g.input('x', [xs.length]), 'float16'), 'float32'));
  const { y } = await (await compileForTest(g)).run({ x: xs });
  for (let i = 0; i < xs.length; i++) {
    const want = y![i]!;
    const got = fromHalfBits(toHalfBits(xs[i]!));
    assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `x=${xs[i]}: ${got} vs ORT ${want}`);
  }
  assert.equal(fromHalfBits(toHalfBits(65520)), Infinity);
  assert.equal(fromHalfBits(toHalfBits(2049)), 2048); // a tie goes to the even mantissa
});

test('float16 constants (a scalar and a tensor) reach ONNX Runtime with their values', async () => {
  const g = new Graph('half_consts', 'cpu');
  const x = op.cast(g.input('x', [3]), 'float16');
  const t = g.constant(Float32Array.of(0.5, -2, 1000), [3], 'float16');
  g.output('y', op.cast(op.mul(op.add(x, 0.25), t), 'float32'));
  const { y } = await (await compileForTest(g)).run({ x: Float32Array.of(1, 2, 3) });
  assert.deepEqual(Array.from(y!), [0.625, -4.5, 3250]);
});
