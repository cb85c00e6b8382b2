import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRAD_SCOPE, Graph, gradients, op } from '../graph/index.js';
import { Engine } from './engine.js';
import { latestProfile, scopeOf, splitRuns } from './profile.js';

test('ORT node names split into forward, backward (the autodiff scope) and ORT-made', () => {
  assert.equal(scopeOf('Conv_12', GRAD_SCOPE), 'forward');
  assert.equal(scopeOf('grad/MatMul_1047/MatmulTransposeFusion/', GRAD_SCOPE), 'backward');
  assert.equal(scopeOf('Relu_3_fused_Conv', GRAD_SCOPE), 'forward');
  assert.equal(scopeOf('ReorderOutput_token_53', GRAD_SCOPE), null);
  assert.equal(scopeOf('conv_775_nchwc', GRAD_SCOPE), null);
  assert.equal(scopeOf('ReorderOutput', GRAD_SCOPE), null);
});

test("a profiled fwd+bwd program: every run's kernel time splits into forward and backward", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
  try {
    const engine = await Engine.create({ threads: 1, profilePrefix: join(dir, 'p') });
    const g = new Graph('profiled');
    const x = g.input('x', [4, 8, 6, 6]);
    const w = g.param('w', [8, 8, 3, 3]);
    const loss = op.reduceSum(op.relu(op.conv2d(x, w, { padding: 1 })));
    const [dw] = gradients(loss, [w]);
    g.output('loss', loss);
    g.output('dw', dw!);
    const program = await engine.compile(g);
    for (let i = 0; i < 3; i++) await program.run({ x: new Float32Array(x.size).fill(0.5), w: new Float32Array(w.size).fill(0.1) });
    await program.release();
    const runs = splitRuns(latestProfile(join(dir, 'p')), GRAD_SCOPE);
    assert.equal(runs.length, 3);
    for (const r of runs) {
      assert.ok(r.kernelMs.forward > 0 && r.kernelMs.backward > 0, JSON.stringify(r));
      assert.ok(r.kernelMs.forward + r.kernelMs.backward <= r.runMs, JSON.stringify(r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
