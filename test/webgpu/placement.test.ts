// No node of a training program runs on the CPU under WebGPU: the engine turns ORT's CPU fallback off for device
// providers, so every program compiling on WebGPU is the proof; a graph with an op WebGPU has no kernel for fails at
// compile time with an error naming that node, where ORT would otherwise have run it on the CPU in silence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSyntheticDataset } from '../../trainer/data/index.js';
import { Engine, NoDeviceKernelError, ParameterStore } from '../../trainer/engine/index.js';
import { Graph, gradients, op } from '../../trainer/graph/index.js';
import { attr } from '../../trainer/graph/ir.js';
import { initParameters, type ModelConfig } from '../../trainer/models/index.js';
import { knnAccuracy } from '../../trainer/train/evaluation/accuracy.js';
import { EvalForward } from '../../trainer/train/evaluation/features.js';
import { GradientCacheStep } from '../../trainer/train/gradient-cache.js';
import { TrainStep } from '../../trainer/train/step.js';
import { DEVICE, TOL_GRAD, deviceOrSkip, maxNormErr } from './webgpu.js';

const { engine: gpu, skip } = await deviceOrSkip();
// WebGPU's own kernel table and MaxPool (the tests after the first two): skipped when the device under test is CUDA.
const webgpuSkip = DEVICE === 'webgpu' ? skip : 'WebGPU only';

test('the CPU fallback is off for device sessions only: an int64 Reshape compiles and runs on the CPU provider', async () => {
  // (the same node is refused on WebGPU below: only the provider differs)
  const cpu = await Engine.create({ provider: 'cpu', threads: 1 });
  const g = new Graph('int64_reshape', 'cpu');
  g.output('flat', op.reshape(g.input('ids', [2, 3], 'int64'), [6]));
  const program = await cpu.compile(g);
  const out = await program.runRaw({ ids: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]) });
  assert.deepEqual(Array.from(out['flat']!.data as BigInt64Array), [1n, 2n, 3n, 4n, 5n, 6n]);
  await program.release();
});

test('every training and evaluation program compiles on the device with the CPU fallback off (CIFAR and ImageNet stems, fp32 and fp16)', { skip, timeout: 300_000 }, async () => {
  for (const stem of ['cifar', 'imagenet'] as const) {
    const model: ModelConfig = { arch: 'resnet18', stem, widthMultiplier: 0.0625, inputChannels: 1, headLatentSize: 32, nceSize: 16, numClasses: 4 };
    const size = stem === 'cifar' ? 12 : 32;
    const opts = { model, batchSize: 4, height: size, width: size, temperature: 0.5 };
    // Creating the session is where ORT places nodes (and refuses a CPU one); running it would only compile shaders.
    const step = await TrainStep.compile(gpu!, opts);
    await (await GradientCacheStep.compile(gpu!, { ...opts, chunk: 2, worldSize: 2 })).release();
    // fp16 (--half): the device has a float16 kernel for every op of the float16 programs (Conv, ConvTranspose,
    // MatMul, MaxPool and its gradient, Relu, the elementwise ops, Cast...).
    await (await TrainStep.compile(gpu!, { ...opts, precision: 'fp16' })).release();
    await (await GradientCacheStep.compile(gpu!, { ...opts, precision: 'fp16', chunk: 2, worldSize: 2 })).release();
    await step.release();
    if (stem === 'imagenet') continue;
    // Evaluation runs: the eval-mode forward (weights compiled in), then kNN (MatMul + TopK) on its features.
    const store = new ParameterStore();
    const init = initParameters(step.specs, 1);
    for (const s of step.specs) store.set(s.name, s.shape, init.get(s.name));
    const ds = createSyntheticDataset({ split: 'test', length: 8, seed: 1, numClasses: 4, size, channels: 1 });
    const features = await EvalForward.create(gpu!, { model, batchSize: 4, height: size, width: size, convForward: 'auto' }).features(ds, store);
    assert.ok(features.h.every(Number.isFinite));
    const knn = await knnAccuracy(gpu!, features, features, { k: 3, temperature: 0.1, numClasses: 4 });
    assert.ok(knn.top1 >= 0 && knn.top1 <= 1);
  }
});

test('a graph with a node WebGPU cannot run fails to compile, naming the op and the node (never a silent CPU run)', { skip: webgpuSkip }, async () => {
  const g = new Graph('int64_reshape', 'webgpu');
  const ids = g.input('ids', [2, 3], 'int64');
  g.output('flat', op.reshape(ids, [6]));
  await assert.rejects(gpu!.compile(g), (e: Error) => {
    assert.ok(e instanceof NoDeviceKernelError, String(e));
    assert.match(e.message, /^graph int64_reshape cannot run on webgpu without the CPU: 1 node\(s\) with no webgpu kernel: Reshape \(reshape_\d+\)\. Fix: /);
    return true;
  });
});

test('a graph built for the CPU provider\'s forms is refused on WebGPU, with the fix', { skip: webgpuSkip }, async () => {
  const g = new Graph('cpu_forms');
  g.output('y', op.relu(g.input('x', [4])));
  await assert.rejects(gpu!.compile(g), /graph cpu_forms was built for the cpu provider's kernels, not webgpu's: build it as new Graph\(name, engine.provider\)/);
});

test('ORT\'s WebGPU MaxPool accepts an Indices output but fails when it runs; the WebGPU form (no indices) matches the CPU', { skip: webgpuSkip }, async () => {
  const x = Float32Array.from({ length: 2 * 2 * 5 * 5 }, (_v, i) => Math.sin(1.7 * i));
  const raw = new Graph('maxpool_indices', 'webgpu');
  const attrs = { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) };
  const [y, idx] = raw.addNode('MaxPool', [raw.input('x', [2, 2, 5, 5])], attrs, [{ shape: [2, 2, 3, 3], dtype: 'float32' }, { shape: [2, 2, 3, 3], dtype: 'int64' }]);
  raw.output('y', y!);
  raw.output('i', idx!);
  const program = await gpu!.compile(raw); // placed on WebGPU: the fallback check cannot see this one
  await assert.rejects(program.run({ x }), /The Indices output is not supported yet/);
  await program.release();

  const cpu = await Engine.create({ provider: 'cpu', threads: 1 });
  const results = await Promise.all([gpu!, cpu].map(async (engine) => {
    const g = new Graph('maxpool_grad', engine.provider);
    const xin = g.input('x', [2, 2, 5, 5]);
    const pooled = op.maxPool2d(xin, { kernel: 3, stride: 2, padding: 1 });
    const w = g.constant(Float32Array.from({ length: 36 }, (_v, i) => Math.cos(i)), [2, 2, 3, 3]);
    const [dx] = gradients(op.reduceSum(op.mul(pooled, w)), [xin]);
    g.output('y', pooled);
    g.output('dx', dx!);
    const p = await engine.compile(g);
    try {
      return await p.run({ x });
    } finally {
      await p.release();
    }
  }));
  assert.deepEqual(Array.from(results[0]!['y']!), Array.from(results[1]!['y']!), 'the max of the window views is the max');
  assert.ok(maxNormErr(results[0]!['dx']!, results[1]!['dx']!) <= TOL_GRAD, 'dx');
});
