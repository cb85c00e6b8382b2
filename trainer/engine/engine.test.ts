import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, op } from '../graph/index.js';
import { Engine } from './engine.js';
import { ParameterStore } from './params.js';
import { ProviderUnavailableError } from './providers.js';

test('cpu engine compiles a graph and feeds parameters from the store by name, without copying', async () => {
  const engine = await Engine.create({ provider: 'cpu', threads: 1 });
  const g = new Graph('lin');
  const x = g.input('x', [1, 2]);
  const w = g.param('w', [3, 2]);
  g.output('y', op.linear(x, w));
  const store = new ParameterStore();
  store.ensureGraphParams(g);
  const p = store.require('w');
  p.data.set([1, 0, 0, 1, 1, 1]);
  const program = await engine.compile(g);
  assert.deepEqual(Array.from((await program.run({ x: Float32Array.from([2, 3]) }, store))['y']!), [2, 3, 5]);
  p.data[0] = 10; // an in-place optimizer update is seen by the next run
  assert.deepEqual(Array.from((await program.run({ x: Float32Array.from([2, 3]) }, store))['y']!), [20, 3, 5]);
  await program.release();
});

test("'cuda' on a machine without ORT's CUDA libraries is a clear error naming the provider and the fix", async () => {
  await assert.rejects(Engine.create({ provider: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof ProviderUnavailableError);
    assert.match(e.message, /execution provider 'cuda' cannot load/);
    assert.match(e.message, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    return true;
  });
});

test("'webgpu' either loads or fails with the provider's fix (Vulkan libraries, VK_DRIVER_FILES)", async () => {
  try {
    await Engine.create({ provider: 'webgpu' });
  } catch (e) {
    assert.ok(e instanceof ProviderUnavailableError, String(e));
    assert.match(e.message, /execution provider 'webgpu' cannot load .*Fix: .*VK_DRIVER_FILES/s);
  }
});

test('compile with a subset of outputs runs only what they need', async () => {
  const engine = await Engine.create({ threads: 1 });
  const g = new Graph('subset');
  const x = g.input('x', [2]);
  g.output('a', op.mul(x, 2));
  g.output('b', op.exp(x));
  const program = await engine.compile(g, { outputs: ['a'] });
  assert.deepEqual(program.outputNames, ['a']);
  const r = await program.run({ x: Float32Array.from([1, 2]) });
  assert.deepEqual(Object.keys(r), ['a']);
  assert.deepEqual(Array.from(r['a']!), [2, 4]);
});

test('an unknown provider, bad thread count, missing or mis-sized input are clear errors', async () => {
  await assert.rejects(Engine.create({ provider: 'tpu' as never }), /unknown execution provider 'tpu': expected one of cpu, webgpu, cuda/);
  await assert.rejects(Engine.create({ threads: 0 }), /threads must be a positive integer/);
  const engine = await Engine.create({ threads: 1 });
  const g = new Graph('id');
  g.output('y', op.relu(g.input('x', [2, 2])));
  const program = await engine.compile(g);
  await assert.rejects(program.run({}), /program input x \[2,2\] was neither fed nor found/);
  await assert.rejects(program.run({ x: new Float32Array(3) }), /x: 3 values fed, shape \[2,2\] needs 4/);
  await assert.rejects(program.run({ x: new Float32Array(4), z: new Float32Array(1) }), /no input named z/);
});

test('ParameterStore rejects shape mismatches', () => {
  const s = new ParameterStore();
  s.set('a', [2, 2]);
  assert.throws(() => s.ensure('a', [4]), /has shape \[2,2\], not \[4\]/);
  assert.throws(() => s.set('b', [3], new Float32Array(2)), /2 values do not fill shape \[3\]/);
  assert.throws(() => s.require('c'), /c is not in the store/);
});
