// ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3x3 conv as torchvision's v1.5), torchvision's
// parameter names, with an ImageNet stem (7x7/2 conv + 3x3/2 max-pool) or a CIFAR stem (3x3/1 conv, no pool).
// Widths are round(w * [64, 128, 256, 512]) (bottleneck outputs x4); the representation h is the global average pool.
import type { Value } from '../graph/index.js';
import * as op from '../graph/ops.js';
import type { LayerBuilder } from './layers.js';

export type Arch = 'resnet18' | 'resnet34' | 'resnet50';
export type Stem = 'imagenet' | 'cifar';

export interface EncoderConfig {
  arch: Arch;
  stem: Stem;
  /** Scales every width; fractional values give small models for tests. */
  widthMultiplier: number;
}

const BLOCKS: Record<Arch, { kind: 'basic' | 'bottleneck'; counts: readonly number[] }> = {
  resnet18: { kind: 'basic', counts: [2, 2, 2, 2] },
  resnet34: { kind: 'basic', counts: [3, 4, 6, 3] },
  resnet50: { kind: 'bottleneck', counts: [3, 4, 6, 3] },
};

function width(c: number, w: number): number {
  if (!(w > 0) || !Number.isFinite(w)) throw new Error(`resnet: width multiplier must be > 0, got ${w}`);
  return Math.max(1, Math.round(c * w));
}

/** The encoder's output width (the representation size). */
export function encoderWidth(cfg: EncoderConfig): number {
  const expansion = BLOCKS[cfg.arch].kind === 'bottleneck' ? 4 : 1;
  return width(512, cfg.widthMultiplier) * expansion;
}

/** x [N, C, H, W] (C = 1 or 3) -> h [N, encoderWidth(cfg)]. */
export function resnetEncoder(b: LayerBuilder, x: Value, cfg: EncoderConfig): Value {
  const spec = BLOCKS[cfg.arch];
  if (spec === undefined) throw new Error(`resnet: unknown arch '${cfg.arch}' (resnet18, resnet34, resnet50)`);
  if (x.rank !== 4) throw new Error(`resnet: input must be [N, C, H, W], got rank ${x.rank}`);
  const stemC = width(64, cfg.widthMultiplier);
  let y: Value;
  if (cfg.stem === 'imagenet') {
    y = op.relu(b.batchNorm('bn1', b.conv('conv1', x, stemC, 7, 2, 3)));
    y = op.maxPool2d(y, { kernel: 3, stride: 2, padding: 1 });
  } else if (cfg.stem === 'cifar') {
    y = op.relu(b.batchNorm('bn1', b.conv('conv1', x, stemC, 3, 1, 1)));
  } else {
    throw new Error(`resnet: unknown stem '${String(cfg.stem)}' (imagenet, cifar)`);
  }
  const expansion = spec.kind === 'bottleneck' ? 4 : 1;
  let inC = stemC;
  for (let li = 0; li < 4; li++) {
    const planes = width([64, 128, 256, 512][li], cfg.widthMultiplier);
    for (let bi = 0; bi < spec.counts[li]; bi++) {
      const stride = bi === 0 && li > 0 ? 2 : 1;
      const downsample = stride !== 1 || inC !== planes * expansion;
      const name = `layer${li + 1}.${bi}`;
      y =
        spec.kind === 'basic'
          ? basicBlock(b, name, y, planes, stride, downsample)
          : bottleneck(b, name, y, planes, stride, downsample);
      inC = planes * expansion;
    }
  }
  return op.globalAvgPool(y);
}

function shortcut(b: LayerBuilder, name: string, x: Value, outC: number, stride: number, downsample: boolean): Value {
  if (!downsample) return x;
  return b.batchNorm(`${name}.downsample.1`, b.conv(`${name}.downsample.0`, x, outC, 1, stride, 0));
}

function basicBlock(b: LayerBuilder, name: string, x: Value, planes: number, stride: number, ds: boolean): Value {
  let y = op.relu(b.batchNorm(`${name}.bn1`, b.conv(`${name}.conv1`, x, planes, 3, stride, 1)));
  y = b.batchNorm(`${name}.bn2`, b.conv(`${name}.conv2`, y, planes, 3, 1, 1));
  return op.relu(op.add(y, shortcut(b, name, x, planes, stride, ds)));
}

function bottleneck(b: LayerBuilder, name: string, x: Value, planes: number, stride: number, ds: boolean): Value {
  let y = op.relu(b.batchNorm(`${name}.bn1`, b.conv(`${name}.conv1`, x, planes, 1, 1, 0)));
  y = op.relu(b.batchNorm(`${name}.bn2`, b.conv(`${name}.conv2`, y, planes, 3, stride, 1)));
  y = b.batchNorm(`${name}.bn3`, b.conv(`${name}.conv3`, y, planes * 4, 1, 1, 0));
  return op.relu(op.add(y, shortcut(b, name, x, planes * 4, stride, ds)));
}

/** --stem auto: the CIFAR stem (3x3 conv, no max-pool) below 64 px, the ImageNet stem from 64 px up. */
export function resolveStem(stem: Stem | 'auto', imageSize: number): Stem {
  if (stem !== 'auto') return stem;
  return imageSize < 64 ? 'cifar' : 'imagenet';
}
