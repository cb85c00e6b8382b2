// The device update (each optimizer's graph form, clipping, running statistics, run in ORT) against the host update
// (the JS optimizers, clipGradNorm and updateRunningStats, checked by hand in optim.test.ts) over several steps.
// Tolerance: the graph computes in float32 where JS keeps float64 intermediates; after 4 steps the two differ by
// ~1e-7 relative. 2e-5 of the largest parameter is far below the updates checked (each step moves the weights by
// >= 1e-3 of their size, asserted; LARS with a trust coefficient of 0.02 so that its steps are that large), so an update that moved nothing, used a stale slot or skipped clipping fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sizeOf } from '../graph/index.js';
import { Engine, ParameterStore } from '../engine/index.js';
import type { ParamSpec } from '../models/index.js';
import { updateRunningStats } from '../models/index.js';
import { Adam, Lars, Sgd, clipGradNorm, type Optimizer } from '../optim/index.js';
import { DeviceUpdate } from './device-update.js';

const init = { kind: 'constant', value: 0 } as const;
const specs: ParamSpec[] = [
  { name: 'conv.weight', shape: [4, 3, 2, 2], isBuffer: false, isOneD: false, init },
  { name: 'bn.weight', shape: [4], isBuffer: false, isOneD: true, init },
  { name: 'bn.bias', shape: [4], isBuffer: false, isOneD: true, init },
  { name: 'fc.weight', shape: [3, 4], isBuffer: false, isOneD: false, init },
  { name: 'bn.running_mean', shape: [4], isBuffer: true, isOneD: true, init },
  { name: 'bn.running_var', shape: [4], isBuffer: true, isOneD: true, init },
];
const bnCounts = new Map([['bn', 32]]);

function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
}

function initial(seed: number): Map<string, Float32Array> {
  const r = random(seed);
  return new Map(specs.map((s) => [s.name, Float32Array.from({ length: sizeOf(s.shape) }, () => (s.name.endsWith('running_var') ? 1 + 0.5 * r() : r()))]));
}

function stepInputs(seed: number, gradScale: number): { grads: Map<string, Float32Array>; mean: Float32Array; variance: Float32Array } {
  const r = random(seed);
  const grads = new Map(specs.filter((s) => !s.isBuffer).map((s) => [s.name, Float32Array.from({ length: sizeOf(s.shape) }, () => gradScale * r())]));
  return { grads, mean: Float32Array.from({ length: 4 }, r), variance: Float32Array.from({ length: 4 }, () => 1 + r() / 2) };
}

async function compare(make: () => Optimizer, clip: number, gradScale: number): Promise<void> {
  const engine = await Engine.create({ threads: 1 });
  const host = initial(7);
  const hostOpt = make();
  const deviceOpt = make();
  const store = new ParameterStore();
  for (const s of specs) store.set(s.name, s.shape, Float32Array.from(host.get(s.name)!));
  const update = await DeviceUpdate.compile(engine, specs, bnCounts, deviceOpt, { clip, bnMomentum: 0.1 });
  await update.toDevice(store);
  assert.equal(store.require('conv.weight').device?.location, 'Cpu', 'weights live in ORT memory');
  const lrs = [0.5, 0.3, 0.2, 0.1];
  for (const [i, lr] of lrs.entries()) {
    const { grads, mean, variance } = stepInputs(100 + i, gradScale);
    const feeds: Record<string, Float32Array> = { 'bnstat/bn.mean': mean, 'bnstat/bn.var': variance };
    for (const [k, v] of grads) feeds[`grad/${k}`] = Float32Array.from(v);
    const before = Float32Array.from(host.get('conv.weight')!);
    const norm = await update.run(store, feeds, lr);
    const hostNorm = clip > 0 ? clipGradNorm(grads.values(), clip) : NaN;
    if (clip > 0) assert.ok(Math.abs(norm - hostNorm) <= 1e-5 * hostNorm, `step ${i}: grad norm ${norm} vs ${hostNorm}`);
    hostOpt.step(
      specs.filter((s) => !s.isBuffer).map((s) => ({ name: s.name, data: host.get(s.name)!, isOneD: s.isOneD })),
      grads,
      lr,
    );
    updateRunningStats({ mean: host.get('bn.running_mean')!, variance: host.get('bn.running_var')! }, { mean, variance }, 32, 0.1);
    const moved = Math.max(...before.map((v, j) => Math.abs(v - host.get('conv.weight')![j]!)));
    assert.ok(moved >= 1e-3 * Math.max(...before.map(Math.abs)), `step ${i}: the host update moved the weights (${moved})`);
  }
  await update.toHost(store);
  for (const s of specs) {
    const want = host.get(s.name)!;
    const got = store.require(s.name).data;
    const scale = Math.max(...want.map(Math.abs));
    const diff = Math.max(...want.map((v, j) => Math.abs(v - got[j]!)));
    assert.ok(diff <= 2e-5 * scale, `${s.name}: max diff ${diff} of ${scale}`);
  }
  const a = hostOpt.stateDict();
  const b = deviceOpt.stateDict();
  assert.equal(b.step, a.step);
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  for (const [k, v] of Object.entries(a.tensors)) {
    const scale = Math.max(...v.map(Math.abs));
    const diff = Math.max(...v.map((x, j) => Math.abs(x - b.tensors[k]![j]!)));
    assert.ok(diff <= 2e-5 * scale, `optimizer ${k}: max diff ${diff} of ${scale}`);
  }
  assert.equal(store.names().filter((n) => n.startsWith('optimizer/')).length, 0, 'slots went back to the optimizer');
  await update.release();
}

describe('the device update equals the host update over 4 steps', () => {
  it('LARS with weight decay', () => compare(() => new Lars({ momentum: 0.9, weightDecay: 1e-2, trustCoefficient: 0.02 }), 0, 1));
  it('LARS, nesterov, with clipping that scales', () => compare(() => new Lars({ momentum: 0.9, weightDecay: 1e-2, trustCoefficient: 0.02, nesterov: true }), 0.5, 1));
  it('SGD with momentum and weight decay', () => compare(() => new Sgd({ momentum: 0.9, weightDecay: 1e-2 }), 0, 0.2));
  it('SGD, nesterov, excluding 1-D from decay', () => compare(() => new Sgd({ momentum: 0.9, weightDecay: 1e-2, nesterov: true, excludeOneDFromWeightDecay: true }), 0, 0.2));
  it('SGD without momentum (no slots)', () => compare(() => new Sgd({ momentum: 0 }), 0, 0.2));
  it('Adam with L2 weight decay', () => compare(() => new Adam('adam', { weightDecay: 1e-2 }), 0, 1));
  it('AdamW, clipping that does not scale', () => compare(() => new Adam('adamw', { weightDecay: 0.1 }), 1e3, 1));
});

it('under clipping, a non-finite gradient leaves every value as it was and reports the norm', async () => {
  const engine = await Engine.create({ threads: 1 });
  const store = new ParameterStore();
  const start = initial(3);
  for (const s of specs) store.set(s.name, s.shape, Float32Array.from(start.get(s.name)!));
  const update = await DeviceUpdate.compile(engine, specs, bnCounts, new Sgd({ momentum: 0.9 }), { clip: 1, bnMomentum: 0.1 });
  await update.toDevice(store);
  const { grads, mean, variance } = stepInputs(5, 1);
  grads.get('fc.weight')![2] = Number.POSITIVE_INFINITY;
  const feeds: Record<string, Float32Array> = { 'bnstat/bn.mean': mean, 'bnstat/bn.var': variance };
  for (const [k, v] of grads) feeds[`grad/${k}`] = v;
  const norm = await update.run(store, feeds, 0.1);
  assert.ok(!Number.isFinite(norm));
  await update.toHost(store);
  for (const s of specs) assert.deepEqual(store.require(s.name).data, start.get(s.name), `${s.name} unchanged`);
  await update.release();
});

it('loss-scaled (fp16): gradients x scale give the unscaled update; a non-finite one is skipped and uncounted', async () => {
  const engine = await Engine.create({ threads: 1 });
  const run = async (scale: number, lossScaled: boolean, poison: boolean): Promise<{ store: ParameterStore; steps: number; norm: number }> => {
    const store = new ParameterStore();
    for (const s of specs) store.set(s.name, s.shape, Float32Array.from(initial(3).get(s.name)!));
    const optimizer = new Lars({ momentum: 0.9, weightDecay: 1e-2, trustCoefficient: 0.02 });
    const update = await DeviceUpdate.compile(engine, specs, bnCounts, optimizer, { clip: 0, bnMomentum: 0.1, lossScaled });
    await update.toDevice(store);
    const { grads, mean, variance } = stepInputs(5, 1);
    const feeds: Record<string, Float32Array> = { 'bnstat/bn.mean': mean, 'bnstat/bn.var': variance };
    for (const [k, v] of grads) feeds[`grad/${k}`] = v.map((x) => x * scale);
    if (poison) feeds['grad/fc.weight']![2] = Number.NaN;
    const norm = await update.run(store, feeds, 0.5, lossScaled ? scale : 1);
    await update.toHost(store);
    await update.release();
    return { store, steps: optimizer.stepCount, norm };
  };
  const plain = await run(1, false, false);
  const scaled = await run(1024, true, false);
  assert.ok(Math.abs(scaled.norm - plain.norm) <= 1e-6 * plain.norm, `unscaled norm ${scaled.norm} vs ${plain.norm}`);
  for (const s of specs) {
    const want = plain.store.require(s.name).data;
    assert.notDeepEqual(want, initial(3).get(s.name), `${s.name} moved`);
    const got = scaled.store.require(s.name).data;
    // A power-of-two scale divides out exactly.
    assert.deepEqual(got, want, `${s.name} after the loss-scaled update`);
  }
  const skipped = await run(1024, true, true);
  assert.ok(!Number.isFinite(skipped.norm));
  assert.equal(skipped.steps, 0, 'the skipped step was uncounted');
  for (const s of specs) assert.deepEqual(skipped.store.require(s.name).data, initial(3).get(s.name), `${s.name} unchanged`);
});
