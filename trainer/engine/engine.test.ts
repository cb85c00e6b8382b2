import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { Graph, op } from '../graph/index.js';
import { Engine } from './engine.js';
import { ParameterStore } from './params.js';
import { ProviderUnavailableError } from './providers.js';

test('cpu engine compiles a graph and feeds parameters from the store by name', async () => {
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

test('fixedInputs compiles params and inputs in as constants: same result, no longer inputs, BatchNorm folded and the Conv NCHWc', async () => {
  const g = new Graph('conv_bn');
  const x = g.input('x', [2, 8, 6, 6]);
  // as the models build it: gamma and beta params, the running statistics inputs (eval mode)
  const bn = [g.param('gamma', [16]), g.param('beta', [16]), g.input('mean', [16]), g.input('var', [16])];
  g.param('unused', [3]);
  const y = op.relu(op.batchNormEval(op.conv2d(x, g.param('w', [16, 8, 3, 3]), { padding: 1 }), bn[0]!, bn[1]!, bn[2]!, bn[3]!));
  g.output('y', y);
  const store = new ParameterStore();
  store.ensureGraphParams(g);
  store.set('mean', [16]);
  store.set('var', [16]);
  let seed = 1;
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  for (const [name, p] of store.entries()) p.data.forEach((_v, i) => (p.data[i] = name === 'var' ? 1 + rand() : rand()));
  const xs = Float32Array.from({ length: 2 * 8 * 36 }, rand);
  const engine = await Engine.create({ threads: 1 });
  const fed = await engine.compile(g);
  const fixedInputs = (name: string): Float32Array | undefined => store.get(name)?.data;
  const fixed = await engine.compile(g, { fixedInputs });
  assert.deepEqual(fixed.inputs.map((i) => i.name), ['x']);
  const want = (await fed.run({ x: xs }, store))['y']!;
  const got = (await fixed.run({ x: xs }))['y']!;
  const scale = Math.max(...Array.from(want, Math.abs));
  assert.ok(want.every((v, i) => Math.abs(v - got[i]!) <= 1e-5 * scale), 'same y as with the params fed');
  store.require('w').data.fill(0); // compiled in: a later change of the store is not seen
  assert.deepEqual((await fixed.run({ x: xs }))['y'], got);
  await Promise.all([fed.release(), fixed.release()]);

  const bytes = g.toOnnx({ fixedInputs });
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  assert.deepEqual(model.graph!.input!.map((i) => i.name), ['x']);
  assert.ok(!model.graph!.initializer!.some((t) => t.name === 'unused'), 'a fixed param no node reads is left out');
  const dir = mkdtempSync(join(tmpdir(), 'fixed-'));
  try {
    const optimized = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 });
    await session.release();
    const nodes = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!;
    assert.ok(!nodes.some((n) => n.opType === 'BatchNormalization'), `BatchNorm folded: ${nodes.map((n) => n.opType).join(', ')}`);
    assert.ok(nodes.some((n) => n.opType === 'Conv' && n.domain === 'com.microsoft.nchwc'), `an NCHWc Conv: ${nodes.map((n) => `${n.domain}:${n.opType}`).join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("'cuda' on a machine without an NVIDIA driver is a clear error naming the driver and the fix (after make cuda)", async (t) => {
  if (/\blibcuda\.so\.1\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '')) return t.skip('this machine has an NVIDIA driver');
  await assert.rejects(Engine.create({ provider: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof ProviderUnavailableError);
    assert.match(e.message, /^execution provider 'cuda' cannot load \(no NVIDIA driver: libcuda\.so\.1: .*\)\. Fix: run on a machine with an NVIDIA GPU/);
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

test('CUDA options reach the native provider: a bad one is refused by name before loading, good ones get as far as loading it', async () => {
  const g = new Graph('cuda_options', 'cuda');
  g.output('y', op.identity(g.input('x', [1])));
  const { ortAddon } = await import('../native/index.js');
  const model = Buffer.from(g.toOnnx());
  await assert.rejects(ortAddon().createSession(model, { provider: 'cuda', cuda: { convAlgoSearch: 'fastest' as never } }), /^Error: cuda convAlgoSearch 'fastest': expected exhaustive, heuristic or default$/);
  await assert.rejects(ortAddon().createSession(model, { provider: 'cuda', cuda: { memoryLimit: -1 } }), /cuda memoryLimit must be a positive number of bytes, got -1/);
  // Valid options pass the parser: what fails then is the provider itself (no CUDA here), named as such.
  await assert.rejects(
    ortAddon().createSession(model, { provider: 'cuda', cuda: { tf32: false, convAlgoSearch: 'heuristic', memoryLimit: 2 ** 30 } }),
    /^Error: execution provider 'cuda': /,
  );
});
