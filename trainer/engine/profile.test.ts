import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRAD_SCOPE, Graph, gradients, op } from '../graph/index.js';
import { Engine } from './engine.js';
import { kernelMsByRun, latestProfile, layerTimes, scopeOf, splitRuns } from './profile.js';

test('ORT node names split into forward, backward (the autodiff scope) and ORT-made', () => {
  assert.equal(scopeOf('Conv_12', GRAD_SCOPE), 'forward');
  assert.equal(scopeOf('conv3/Conv_57', GRAD_SCOPE), 'forward');
  assert.equal(scopeOf('grad/conv3.dw/MatMul_80', GRAD_SCOPE), 'backward');
  assert.equal(scopeOf('grad/MatMul_1047/MatmulTransposeFusion/', GRAD_SCOPE), 'backward');
  assert.equal(scopeOf('Relu_3_fused_Conv', GRAD_SCOPE), 'forward');
  assert.equal(scopeOf('ReorderOutput_token_53', GRAD_SCOPE), null);
  assert.equal(scopeOf('conv_775_nchwc', GRAD_SCOPE), null);
  assert.equal(scopeOf('ReorderOutput', GRAD_SCOPE), null);
});

/** Builds a graph, runs it 3 times in a profiled session and hands the graph and its profile file to `check`. */
async function profiled(build: (g: Graph) => Record<string, Float32Array>, check: (g: Graph, profile: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
  try {
    const engine = await Engine.create({ threads: 1, profilePrefix: join(dir, 'p') });
    const g = new Graph('profiled');
    const feeds = build(g);
    const program = await engine.compile(g);
    for (let i = 0; i < 3; i++) await program.run(feeds);
    await program.release();
    check(g, latestProfile(join(dir, 'p')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a profiled fwd+bwd program: every run's kernel time splits into forward and backward", async () => {
  await profiled((g) => {
    const x = g.input('x', [4, 8, 6, 6]);
    const w = g.param('w', [8, 8, 3, 3]);
    const loss = op.reduceSum(op.relu(op.conv2d(x, w, { padding: 1 })));
    g.output('loss', loss);
    g.output('dw', gradients(loss, [w])[0]!);
    return { x: new Float32Array(x.size).fill(0.5), w: new Float32Array(w.size).fill(0.1) };
  }, (_g, profile) => {
    const runs = splitRuns(profile, GRAD_SCOPE);
    assert.equal(runs.length, 3);
    for (const r of runs) {
      assert.ok(r.kernelMs.forward > 0 && r.kernelMs.backward > 0, JSON.stringify(r));
      assert.ok(r.kernelMs.forward + r.kernelMs.backward <= r.runMs, JSON.stringify(r));
    }
  });
});

test('kernel time splits per Conv layer into forward, dX and dW', async () => {
  await profiled((g) => {
    const x = g.input('x', [4, 16, 8, 8]);
    const w0 = g.param('w0', [16, 16, 3, 3]);
    const w1 = g.param('w1', [16, 16, 3, 3]);
    const loss = op.reduceSum(op.relu(op.conv2d(op.relu(op.conv2d(x, w0, { padding: 1 })), w1, { padding: 1 })));
    const [d0, d1] = gradients(loss, [w0, w1]);
    g.output('loss', loss);
    g.output('d0', d0!);
    g.output('d1', d1!);
    return { x: new Float32Array(x.size).fill(0.5), w0: new Float32Array(w0.size).fill(0.1), w1: new Float32Array(w1.size).fill(0.1) };
  }, (g, profile) => {
    const scopes = new Map(g.nodes.flatMap((n) => n.outputs.map((v) => [v.name, n.scope] as const)));
    const layers = layerTimes(profile, GRAD_SCOPE, (v) => scopes.get(v), 2); // the last run alone
    assert.deepEqual([...layers.keys()].sort(), ['conv0', 'conv1']);
    const [l0, l1] = [layers.get('conv0')!, layers.get('conv1')!];
    assert.ok(l0.forward > 0 && l0.dw > 0 && l1.forward > 0 && l1.dw > 0 && l1.dx > 0, JSON.stringify({ l0, l1 }));
    assert.equal(l0.dx, 0, 'the first Conv reads a graph input: no dX is built for it');
    const last = splitRuns(profile, GRAD_SCOPE)[2]!;
    const attributed = [l0, l1].reduce((sum, l) => sum + l.forward + l.dx + l.dw + l.backward, 0);
    // The Relus, the loss and their gradients belong to no layer.
    assert.ok(attributed < last.kernelMs.forward + last.kernelMs.backward, `${attributed} ms attributed of ${JSON.stringify(last)}`);
  });
});

test('per-layer times: ORT\'s NCHWc Convs go to the Conv whose output they replace, reorders to the node they serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-nchwc-'));
  try {
    // The events of one run as ORT writes them (ts and dur in microseconds).
    let ts = 0;
    const node = (name: string, dur: number): object => ({ cat: 'Node', name: `${name}_kernel_time`, ts: (ts += 10), dur });
    const events = [
      { cat: 'Session', name: 'model_run', ts: 0, dur: 10_000 },
      node('ReorderInput', 100), node('conv_7_nchwc', 2000), node('ReorderOutput', 300), // conv3's forward
      node('Relu_9', 50),
      node('grad/conv3.dw/MatMul_40', 1500), node('Transpose_token_5', 200), // ORT moved a transpose after the dW GEMM
      node('grad/conv3.dx/Col2Im_41', 900),
    ];
    const path = join(dir, 'p_1.json');
    writeFileSync(path, JSON.stringify(events));
    const scopes = new Map([['conv_7', 'conv3']]);
    const t = layerTimes(path, GRAD_SCOPE, (v) => scopes.get(v)).get('conv3');
    assert.deepEqual(t, { forward: 2.4, dx: 0.9, dw: 1.7, backward: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kernel time of the nodes a name matches, per run (bench/conv-grad.ts leaves out Reshape copies this way)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-match-'));
  try {
    const node = (name: string, ts: number, dur: number): object => ({ cat: 'Node', name: `${name}_kernel_time`, ts, dur });
    const events = [
      { cat: 'Session', name: 'model_run', ts: 0, dur: 1000 },
      node('MatMul_3', 10, 400), node('Reshape_4', 420, 300), node('grad/conv1.dx/Reshape_9', 730, 20),
      node('Reshape_11', 1500, 70), // between runs: counted in none
      { cat: 'Session', name: 'model_run', ts: 2000, dur: 1000 },
      node('MatMul_3', 2010, 400), node('Reshape_4_new_reshape', 2420, 10),
    ];
    const path = join(dir, 'p_1.json');
    writeFileSync(path, JSON.stringify(events));
    assert.deepEqual(kernelMsByRun(path, /(?:^|\/)Reshape_\d+$/), [0.32, 0]);
    assert.deepEqual(kernelMsByRun(path, /^MatMul_/), [0.4, 0.4]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
