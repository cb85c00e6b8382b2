// The SimCLR model: ResNet encoder -> representation h; projection head Linear-BN-ReLU-Linear-BN -> z (the NT-Xent
// embedding); and an online linear classifier on the DETACHED representation (its loss trains only itself).
// Names: encoder as torchvision; head `head.0` (Linear), `head.1` (BN), `head.3` (Linear), `head.4` (BN, affine-free);
// classifier `classifier.weight/bias`. Head Linears have no bias: a BatchNorm follows each (SimCLR v2's
// use_bias = not use_bn), where a bias would be cancelled and get an exactly zero gradient.
import type { ForwardMethod, Graph, Value } from '../graph/index.js';
import * as op from '../graph/ops.js';
import { LayerBuilder, like, type BnStat, type Mode } from './layers.js';
import type { ParamSpec } from './params.js';
import { encoderWidth, resnetEncoder, type Arch, type Stem } from './resnet.js';

export interface ModelConfig {
  arch: Arch;
  stem: Stem;
  widthMultiplier: number;
  /** 1 (grayscale) or 3 (RGB). */
  inputChannels: number;
  headLatentSize: number;
  nceSize: number;
  /** Classes of the online linear classifier; 0 leaves it out. */
  numClasses: number;
  bnEps?: number;
  /**
   * Synchronized BatchNorm (--convert-to-sync-bn): train-mode statistics over the global batch of this many replicas,
   * each building the same graph on its equal share (their engines compiled with the process group). Default 1.
   */
  syncBatchNormReplicas?: number;
}

export interface ModelOutputs {
  /** [N, representationSize] encoder output. */
  readonly h: Value;
  /** [N, nceSize] projection (not normalised; NT-Xent normalises). */
  readonly z: Value;
  /** [N, numClasses] online classifier logits on stopGradient(h); absent when numClasses is 0. */
  readonly logits?: Value;
}

export interface ModelBuild {
  readonly outputs: ModelOutputs;
  /** Every parameter and buffer, in creation order (torchvision's state_dict order). */
  readonly params: readonly ParamSpec[];
  /** Train mode: one entry per BatchNorm layer, for the running-stat update; empty in eval mode. */
  readonly bnStats: readonly BnStat[];
}

/** The representation size: the encoder's pooled width (as in the seed, where --representation-size only declares it). */
export function representationSize(cfg: ModelConfig): number {
  return encoderWidth(cfg);
}

/**
 * Builds the model on x [N, inputChannels, H, W]. Train mode normalises with batch statistics (and reports them);
 * eval mode reads the running statistics, which become graph inputs named `<bn>.running_mean` / `.running_var`.
 * `convForward` overrides how Convs run forward (LayerBuilder's default: GEMMs on small maps in train mode only).
 * The encoder and head compute in x's dtype (float16 x: mixed precision, see layers.ts); h, z and the logits are
 * float32 whatever it is, so losses and features downstream read float32.
 */
export function buildSimclrModel(g: Graph, x: Value, cfg: ModelConfig, mode: Mode, convForward?: ForwardMethod | 'auto'): ModelBuild {
  if (x.rank !== 4 || x.shape[1] !== cfg.inputChannels) {
    throw new Error(`model: input must be [N, ${cfg.inputChannels}, H, W], got [${x.shape.join(', ')}]`);
  }
  if (cfg.inputChannels !== 1 && cfg.inputChannels !== 3) {
    throw new Error(`model: inputChannels must be 1 or 3, got ${cfg.inputChannels}`);
  }
  const rep = representationSize(cfg);
  const b = new LayerBuilder(g, mode, cfg.bnEps, convForward, cfg.syncBatchNormReplicas);
  const hx = resnetEncoder(b, x, cfg);
  if (hx.shape[1] !== rep) throw new Error(`model: encoder gave ${hx.shape[1]} features, expected ${rep}`);
  const hidden = op.relu(b.batchNorm('head.1', b.linear('head.0', hx, cfg.headLatentSize, false)));
  const z = b.batchNormNoAffine('head.4', b.linear('head.3', hidden, cfg.nceSize, false));
  const h = like(hx, 'float32');
  const logits = cfg.numClasses > 0 ? b.linear('classifier', op.stopGradient(h), cfg.numClasses, true) : undefined;
  return { outputs: { h, z, logits }, params: b.specs, bnStats: b.bnStats };
}

/** The encoder alone (for export / embedding): x -> h, its params, and BN stats in train mode. */
export function buildEncoder(
  g: Graph,
  x: Value,
  cfg: Pick<ModelConfig, 'arch' | 'stem' | 'widthMultiplier' | 'bnEps'>,
  mode: Mode,
): { h: Value; params: readonly ParamSpec[]; bnStats: readonly BnStat[] } {
  const b = new LayerBuilder(g, mode, cfg.bnEps);
  const h = resnetEncoder(b, x, cfg);
  return { h, params: b.specs, bnStats: b.bnStats };
}
