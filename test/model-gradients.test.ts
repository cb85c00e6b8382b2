// Whole-model gradients against an independent framework: test/fixtures/*.safetensors were written by JAX (float64)
// through test/fixtures/gen_resnet_grads.py for the same SimCLR model (ResNet encoder, projection head, online
// classifier on the detached representation) and loss (NT-Xent + classifier cross entropy). Here we build our graph,
// run our autodiff on ONNX Runtime (float32) and compare the loss, every parameter gradient, the BatchNorm batch
// statistics, and an eval-mode forward pass that reads running statistics.
//
// Gradient error per parameter: max_i |ours_i - ref_i| / max_i |ref_i| (max-normalised, robust to zero entries).
// A parameter is 'tiny' when ||ref||_2 < TINY * max over parameters of ||ref||_2; tiny ones are reported, not gated.
// Tolerances: GRAD_TOL (1e-4) for gradients, 1e-5 for the loss and BN statistics, unless JAX's OWN float32 run of the
// same computation (recorded by the generator as f32_*_err) lands further from float64 than that: a deep, narrow
// ResNet with 8-sample BatchNorm amplifies float32 rounding, and then we require being no worse than 4x JAX float32
// (ORT and XLA round in different orders, so the two float32 errors differ by small factors either way).
// SIMCLR_TEST_PROVIDER=webgpu runs it all on WebGPU, with its gradient forms (make test does, on lavapipe).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Engine } from '../trainer/engine/index.js';
import { Graph, gradients, op, type Value } from '../trainer/graph/index.js';
import { ntXentLoss, softmaxCrossEntropy } from '../trainer/loss/index.js';
import { buildSimclrModel, updateRunningStats, type ModelConfig } from '../trainer/models/index.js';
import { Lars, Sgd } from '../trainer/optim/index.js';
import { fixturePath, readSafetensors } from './fixtures/safetensors.js';
import { TEST_TARGET } from '../trainer/graph/testing/ort.js';

const GRAD_TOL = 1e-4;
const TINY = 1e-5;
const FIXTURES = ['resnet18-cifar.safetensors', 'resnet50-imagenet.safetensors'];

function configOf(meta: Record<string, string>): ModelConfig {
  return {
    arch: meta.arch as ModelConfig['arch'],
    stem: meta.stem as ModelConfig['stem'],
    widthMultiplier: Number(meta.width),
    inputChannels: Number(meta.channels),
    headLatentSize: Number(meta.head_latent),
    nceSize: Number(meta.nce),
    numClasses: Number(meta.classes),
  };
}

/** The looser of our bound and 4x JAX's own float32 error on this fixture (see the header). */
function tolerance(ours: number, jaxFloat32Err: string | undefined): number {
  const f32 = Number(jaxFloat32Err);
  assert.ok(Number.isFinite(f32), 'fixture lacks the JAX float32 error; regenerate it with gen_resnet_grads.py');
  return Math.max(ours, 4 * f32);
}

function maxNormErr(ours: Float32Array, ref: Float32Array): number {
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref[i]));
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

const l2 = (a: Float32Array): number => Math.sqrt(a.reduce((s, v) => s + v * v, 0));

let engine: Engine;
before(async () => {
  engine = await Engine.create({ provider: TEST_TARGET, threads: 2 });
});

for (const name of FIXTURES) {
  describe(`whole-model gradients vs JAX: ${name}`, () => {
    const fx = readSafetensors(fixturePath(name, import.meta.url));
    const cfg = configOf(fx.meta);
    const t = (k: string): { shape: number[]; data: Float32Array } => {
      const v = fx.tensors.get(k);
      assert.ok(v, `fixture has no tensor ${k}`);
      return v;
    };
    const x = t('input/x');
    const targets = t('input/targets');
    const paramFeeds = (): Record<string, Float32Array> => {
      const feeds: Record<string, Float32Array> = {};
      for (const [k, v] of fx.tensors) if (k.startsWith('param/')) feeds[k.slice(6)] = v.data;
      return feeds;
    };

    it('train mode: loss, every parameter gradient and the BatchNorm batch statistics', async () => {
      const g = new Graph('fixture_train', TEST_TARGET);
      const xin = g.input('x', x.shape);
      const tin = g.input('targets', targets.shape);
      const model = buildSimclrModel(g, xin, cfg, 'train');
      const nce = ntXentLoss(model.outputs.z, Number(fx.meta.temperature));
      assert.ok(model.outputs.logits);
      const ce = softmaxCrossEntropy(model.outputs.logits, tin);
      const total = op.add(nce, ce);

      // Our parameters map 1:1 onto the fixture's, names and shapes (torchvision naming on both sides).
      const trainable = model.params.filter((s) => !s.isBuffer);
      const fixtureNames = [...fx.tensors.keys()].filter((k) => k.startsWith('param/')).map((k) => k.slice(6));
      assert.deepEqual(trainable.map((s) => s.name), fixtureNames);
      for (const s of trainable) assert.deepEqual([...s.shape], t(`param/${s.name}`).shape, s.name);

      const byName = new Map<string, Value>(g.params.map((v) => [v.name, v]));
      const wrt = trainable.map((s) => byName.get(s.name)!);
      const grads = gradients(total, wrt);
      g.output('loss', total);
      g.output('nce', nce);
      g.output('ce', ce);
      trainable.forEach((s, i) => g.output(`grad/${s.name}`, grads[i]));
      for (const st of model.bnStats) {
        g.output(`bnstat/${st.name}.mean`, st.mean);
        g.output(`bnstat/${st.name}.var`, st.variance);
      }
      const program = await engine.compile(g);
      const out = await program.run({ x: x.data, targets: targets.data, ...paramFeeds() });
      await program.release();

      const lossTol = tolerance(1e-5, fx.meta.f32_loss_err);
      const wantLoss = Number(fx.meta.loss_total);
      const lossErr = Math.abs(out.loss[0] - wantLoss) / Math.abs(wantLoss);
      assert.ok(lossErr <= lossTol, `loss ${out.loss[0]}, JAX ${wantLoss}: relative error ${lossErr} > ${lossTol}`);
      const wantNce = Number(fx.meta.loss_ntxent);
      const nceErr = Math.abs(out.nce[0] - wantNce) / wantNce;
      assert.ok(nceErr <= lossTol, `nt-xent ${out.nce[0]}, JAX ${wantNce}: relative error ${nceErr} > ${lossTol}`);

      const norms = trainable.map((s) => l2(t(`grad/${s.name}`).data));
      const maxNorm = Math.max(...norms);
      const rows = trainable.map((s, i) => ({
        name: s.name,
        err: maxNormErr(out[`grad/${s.name}`], t(`grad/${s.name}`).data),
        norm: norms[i],
        tiny: norms[i] < TINY * maxNorm,
      }));
      const worst = [...rows].sort((a, b) => b.err - a.err);
      const gated = worst.filter((r) => !r.tiny);
      const gradTol = tolerance(GRAD_TOL, fx.meta.f32_grad_err);
      console.log(
        `${name}: loss ours ${out.loss[0]} / JAX ${wantLoss} (rel. error ${lossErr.toExponential(2)}); ` +
          `gradient tolerance ${gradTol.toExponential(2)} ` +
          `(JAX's own float32 error ${Number(fx.meta.f32_grad_err).toExponential(2)}); ` +
          `${rows.length} parameter gradients, ` +
          `${rows.length - gated.length} tiny (||g|| < ${TINY} x max ${maxNorm.toExponential(2)}); worst errors:\n` +
          worst
            .slice(0, 5)
            .map((r) => {
              const tiny = r.tiny ? ', tiny' : '';
              return `  ${r.name}: ${r.err.toExponential(2)} (||g|| ${r.norm.toExponential(2)}${tiny})`;
            })
            .join('\n'),
      );
      assert.ok(gated.length > 0.9 * rows.length, 'nearly every gradient should be non-tiny');
      for (const r of gated) assert.ok(r.err <= gradTol, `${r.name}: gradient error ${r.err} > ${gradTol}`);

      assert.equal(model.bnStats.length * 2, [...fx.tensors.keys()].filter((k) => k.startsWith('bnstat/')).length);
      const statTol = tolerance(1e-5, fx.meta.f32_stat_err);
      for (const st of model.bnStats) {
        for (const kind of ['mean', 'var']) {
          const k = `bnstat/${st.name}.${kind}`;
          const err = maxNormErr(out[k], t(k).data);
          assert.ok(err <= statTol, `${k}: error ${err} > ${statTol}`);
        }
      }
    });

    it('eval mode: representation and projection with running statistics', async () => {
      const g = new Graph('fixture_eval', TEST_TARGET);
      const xin = g.input('x', x.shape);
      const model = buildSimclrModel(g, xin, cfg, 'eval');
      assert.equal(model.bnStats.length, 0);
      g.output('h', model.outputs.h);
      g.output('z', model.outputs.z);
      const feeds: Record<string, Float32Array> = { x: x.data, ...paramFeeds() };
      for (const s of model.params.filter((p) => p.isBuffer)) feeds[s.name] = t(`buffer/${s.name}`).data;
      const program = await engine.compile(g);
      const out = await program.run(feeds);
      await program.release();
      for (const k of ['h', 'z']) {
        const err = maxNormErr(out[k], t(`eval/${k}`).data);
        assert.ok(err <= 1e-5, `eval ${k}: error ${err}`);
      }
    });
  });
}

describe('training steps on the ResNet-18 fixture batch', () => {
  it('LARS and SGD steps along our gradients lower the loss; running stats move toward the batch stats', async () => {
    const fx = readSafetensors(fixturePath('resnet18-cifar.safetensors', import.meta.url));
    const x = fx.tensors.get('input/x')!;
    const targets = fx.tensors.get('input/targets')!;
    const g = new Graph('train_step', TEST_TARGET);
    const model = buildSimclrModel(g, g.input('x', x.shape), configOf(fx.meta), 'train');
    const total = op.add(
      ntXentLoss(model.outputs.z, Number(fx.meta.temperature)),
      softmaxCrossEntropy(model.outputs.logits!, g.input('targets', targets.shape)),
    );
    const trainable = model.params.filter((s) => !s.isBuffer);
    const byName = new Map<string, Value>(g.params.map((v) => [v.name, v]));
    const grads = gradients(total, trainable.map((s) => byName.get(s.name)!));
    g.output('loss', total);
    trainable.forEach((s, i) => g.output(`grad/${s.name}`, grads[i]));
    for (const st of model.bnStats) {
      g.output(`${st.name}.mean`, st.mean);
      g.output(`${st.name}.var`, st.variance);
    }
    const program = await engine.compile(g);
    const run = async (w: Map<string, Float32Array>): Promise<Record<string, Float32Array>> =>
      program.run({ x: x.data, targets: targets.data, ...Object.fromEntries(w) });
    const fresh = (): Map<string, Float32Array> =>
      new Map(trainable.map((s) => [s.name, Float32Array.from(fx.tensors.get(`param/${s.name}`)!.data)]));

    const steps = [
      [new Lars({ momentum: 0.9, weightDecay: 1e-6 }), 2],
      [new Sgd(), 0.01],
    ] as const;
    for (const [opt, lr] of steps) {
      const w = fresh();
      const params = trainable.map((s) => ({ name: s.name, data: w.get(s.name)!, isOneD: s.isOneD }));
      const before = await run(w);
      const gradMap = new Map(trainable.map((s) => [s.name, before[`grad/${s.name}`]]));
      opt.step(params, gradMap, lr);
      const after = await run(w);
      assert.ok(after.loss[0] < before.loss[0] - 1e-3, `${opt.kind}: loss ${before.loss[0]} -> ${after.loss[0]}`);
    }

    const out = await run(fresh());
    const stats = model.bnStats.find((s) => s.name === 'layer1.0.bn1')!;
    const running = { mean: new Float32Array(stats.mean.size), variance: new Float32Array(stats.mean.size).fill(1) };
    updateRunningStats(running, { mean: out['layer1.0.bn1.mean'], variance: out['layer1.0.bn1.var'] }, stats.count);
    assert.equal(stats.count, 8 * 16 * 16);
    for (let c = 0; c < running.mean.length; c++) {
      assert.ok(Math.abs(running.mean[c] - 0.1 * out['layer1.0.bn1.mean'][c]) < 1e-6);
    }
    await program.release();
  });
});
