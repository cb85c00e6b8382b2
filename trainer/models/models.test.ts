// Model structure against torchvision's published parameter counts, names, flags and seeded init statistics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, sizeOf } from '../graph/index.js';
import {
  buildEncoder,
  buildSimclrModel,
  initParameters,
  resolveStem,
  updateRunningStats,
  type ModelConfig,
} from './index.js';

const cfg = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  arch: 'resnet18',
  stem: 'imagenet',
  widthMultiplier: 1,
  inputChannels: 3,
  headLatentSize: 1024,
  nceSize: 128,
  numClasses: 10,
  ...over,
});

function encoderCount(arch: ModelConfig['arch']): number {
  const g = new Graph('count');
  const enc = buildEncoder(g, g.input('x', [2, 3, 224, 224]), { arch, stem: 'imagenet', widthMultiplier: 1 }, 'train');
  return enc.params.filter((p) => !p.isBuffer).reduce((s, p) => s + sizeOf(p.shape), 0);
}

describe('ResNet encoders', () => {
  it('have torchvision parameter counts (its totals minus the 1000-way fc)', () => {
    assert.equal(encoderCount('resnet18'), 11_689_512 - 513_000);
    assert.equal(encoderCount('resnet34'), 21_797_672 - 513_000);
    assert.equal(encoderCount('resnet50'), 25_557_032 - 2_049_000);
  });

  it('use torchvision names and flag 1-D parameters and buffers', () => {
    const g = new Graph('names');
    const m = buildSimclrModel(g, g.input('x', [4, 3, 32, 32]), cfg({ stem: 'cifar', widthMultiplier: 0.25 }), 'train');
    const names = m.params.map((p) => p.name);
    for (const n of [
      'conv1.weight',
      'bn1.weight',
      'bn1.running_var',
      'layer1.0.conv1.weight',
      'layer1.0.bn1.bias',
      'layer2.0.downsample.0.weight',
      'layer2.0.downsample.1.running_mean',
      'layer4.1.conv2.weight',
      'head.0.weight',
      'head.1.weight',
      'head.3.weight',
      'head.4.running_mean',
      'classifier.weight',
      'classifier.bias',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    assert.ok(!names.includes('layer1.0.downsample.0.weight'), 'layer1 of a BasicBlock net needs no downsample');
    assert.ok(!names.includes('head.4.weight'), 'the last head BN is affine-free');
    assert.ok(!names.includes('head.0.bias'), 'no Linear bias before a BN');
    for (const p of m.params) {
      assert.equal(p.isOneD, p.shape.length === 1, `${p.name} isOneD`);
      assert.equal(p.isBuffer, /running_(mean|var)$/.test(p.name), `${p.name} isBuffer`);
    }
    assert.equal(new Set(names).size, names.length, 'names are unique');
    // 1 stem BN + 8 blocks x 2 + 3 downsample BNs + 2 head BNs
    assert.equal(m.bnStats.length, 22);
    assert.deepEqual(m.outputs.h.shape, [4, 128]);
    assert.deepEqual(m.outputs.z.shape, [4, 128]);
    assert.deepEqual(m.outputs.logits?.shape, [4, 10]);
  });

  it('ResNet-50 on 1-channel input: bottleneck widths x4, eval mode reads running stats as inputs', () => {
    const g = new Graph('r50');
    const c = cfg({ arch: 'resnet50', inputChannels: 1, widthMultiplier: 0.125, nceSize: 16, headLatentSize: 32 });
    const m = buildSimclrModel(g, g.input('x', [2, 1, 64, 64]), c, 'eval');
    assert.deepEqual(m.outputs.h.shape, [2, 256]); // 2048 * 0.125
    assert.equal(m.bnStats.length, 0);
    const buffers = m.params.filter((p) => p.isBuffer).map((p) => p.name);
    assert.deepEqual(
      g.inputs.map((v) => v.name).filter((n) => n !== 'x'),
      buffers,
    );
    assert.ok(buffers.includes('layer1.0.downsample.1.running_var'), 'layer1.0 of a Bottleneck net changes width');
  });

  it('--stem auto picks the CIFAR stem below 64 px', () => {
    assert.equal(resolveStem('auto', 28), 'cifar');
    assert.equal(resolveStem('auto', 63), 'cifar');
    assert.equal(resolveStem('auto', 64), 'imagenet');
    assert.equal(resolveStem('imagenet', 28), 'imagenet');
  });

  it('gives clear errors for bad configs', () => {
    const g = new Graph('bad');
    assert.throws(
      () => buildSimclrModel(g, g.input('x', [2, 3, 32, 32]), cfg({ representationSize: 2048 }), 'train'),
      /representation size 2048 does not match resnet18 .* outputs 512/,
    );
    const gray = g.input('y', [2, 1, 32, 32]);
    assert.throws(() => buildSimclrModel(g, gray, cfg(), 'train'), /input must be \[N, 3, H, W\]/);
    assert.throws(
      () => buildSimclrModel(g, g.input('z', [2, 2, 32, 32]), cfg({ inputChannels: 2 }), 'train'),
      /inputChannels must be 1 or 3/,
    );
  });
});

describe('initialisation', () => {
  it('follows PyTorch: kaiming normal (fan_out) convs, BN 1/0, running var 1, uniform Linear; seeded', () => {
    const g = new Graph('init');
    const m = buildSimclrModel(g, g.input('x', [2, 3, 32, 32]), cfg({ stem: 'cifar', widthMultiplier: 0.5 }), 'train');
    const p = initParameters(m.params, 7);
    const w = p.get('layer4.1.conv2.weight')!; // [256, 256, 3, 3]: std sqrt(2 / (256 * 9))
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    assert.ok(Math.abs(mean) < 1e-3, `mean ${mean}`);
    assert.ok(Math.abs(std / Math.sqrt(2 / (256 * 9)) - 1) < 0.01, `std ${std}`);
    assert.ok(p.get('layer1.0.bn1.weight')!.every((v) => v === 1));
    assert.ok(p.get('layer1.0.bn1.bias')!.every((v) => v === 0));
    assert.ok(p.get('head.4.running_var')!.every((v) => v === 1));
    const lw = p.get('classifier.weight')!; // fan_in 256: uniform(+-1/16)
    const bound = 1 / Math.sqrt(256);
    assert.ok(lw.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...lw.map(Math.abs)) > 0.95 * bound, 'fills the range');
    assert.deepEqual(initParameters(m.params, 7).get('conv1.weight'), p.get('conv1.weight'));
    assert.notDeepEqual(initParameters(m.params, 8).get('conv1.weight'), p.get('conv1.weight'));
  });
});

describe('BatchNorm running statistics', () => {
  it('momentum update with the unbiased batch variance', () => {
    const running = { mean: Float32Array.from([0, 1]), variance: Float32Array.from([1, 2]) };
    // count 5: unbiased var = biased * 5/4
    updateRunningStats(running, { mean: Float32Array.from([2, -1]), variance: Float32Array.from([4, 0.8]) }, 5, 0.1);
    // mean: 0.9 * [0, 1] + 0.1 * [2, -1] = [0.2, 0.8]; var: 0.9 * [1, 2] + 0.1 * [5, 1] = [1.4, 1.9]
    assert.deepEqual(Array.from(running.mean, (v) => +v.toFixed(6)), [0.2, 0.8]);
    assert.deepEqual(Array.from(running.variance, (v) => +v.toFixed(6)), [1.4, 1.9]);
    const three = { mean: new Float32Array(3), variance: new Float32Array(3) };
    assert.throws(() => updateRunningStats(running, three, 5), /channel/);
  });
});
