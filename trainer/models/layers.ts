// Layer builders shared by the encoder and the head: each records its parameter specs (torchvision names) and, in
// train mode, the batch statistics of every BatchNorm so the caller can update the running stats.
// Mixed precision follows the activations: parameters are float32 graph inputs (the master weights), cast to the
// dtype of the activation they meet, so a float16 input computes Convs and Linears in float16 and autodiff's Cast
// rule returns float32 gradients. BatchNorm always computes in float32 (its statistics and their gradient are sums
// over a whole channel) and hands back the activation's dtype.
import type { ForwardMethod, Graph, Value } from '../graph/index.js';
import * as op from '../graph/ops.js';
import type { Init, ParamSpec } from './params.js';

export type Mode = 'train' | 'eval';

/** One BatchNorm layer's batch statistics from a train-mode forward. */
export interface BnStat {
  /** The layer's name, e.g. `layer1.0.bn1`; its buffers are `<name>.running_mean` / `<name>.running_var`. */
  readonly name: string;
  /** [C] batch mean. */
  readonly mean: Value;
  /** [C] biased batch variance (what the forward normalised with). */
  readonly variance: Value;
  /** Elements per channel behind the statistics (N, or N * H * W): the running variance is unbiased with it. */
  readonly count: number;
}

export const BN_EPS = 1e-5;

export class LayerBuilder {
  readonly specs: ParamSpec[] = [];
  readonly bnStats: BnStat[] = [];

  constructor(
    readonly g: Graph,
    readonly mode: Mode,
    readonly eps = BN_EPS,
    /** How Convs run forward: by default, training graphs let small-map Convs run as a GEMM, other graphs keep ONNX Convs. */
    readonly convForward: ForwardMethod | 'auto' = mode === 'train' ? 'auto' : 'conv',
    /** > 1: train-mode BatchNorm statistics are summed over that many replicas (synchronized BatchNorm). */
    readonly syncReplicas = 1,
  ) {}

  param(name: string, shape: readonly number[], init: Init, isOneD: boolean): Value {
    this.specs.push({ name, shape: [...shape], init, isBuffer: false, isOneD });
    return this.g.param(name, shape);
  }

  /** A buffer is a graph input only in eval mode (train mode normalises with batch statistics). */
  buffer(name: string, shape: readonly number[], value: number): Value | undefined {
    this.specs.push({ name, shape: [...shape], init: { kind: 'constant', value }, isBuffer: true, isOneD: true });
    return this.mode === 'eval' ? this.g.input(name, shape) : undefined;
  }

  /** Conv without bias; x [N, Cin, H, W] -> [N, outC, H', W']; kaiming normal (fan_out, ReLU). */
  conv(name: string, x: Value, outC: number, kernel: number, stride: number, padding: number): Value {
    const inC = x.shape[1];
    const std = Math.sqrt(2 / (outC * kernel * kernel));
    const w = this.param(`${name}.weight`, [outC, inC, kernel, kernel], { kind: 'normal', std }, false);
    return op.conv2d(x, like(w, x), { stride, padding, forward: this.convForward });
  }

  /** Linear x [N, I] -> [N, O], PyTorch default init. */
  linear(name: string, x: Value, out: number, bias: boolean): Value {
    const inF = x.shape[1];
    const bound = 1 / Math.sqrt(inF);
    const w = this.param(`${name}.weight`, [out, inF], { kind: 'uniform', bound }, false);
    const b = bias ? this.param(`${name}.bias`, [out], { kind: 'uniform', bound }, true) : undefined;
    return op.linear(x, like(w, x), b && like(b, x));
  }

  /** BatchNorm over channel axis 1 of [N, C] or [N, C, H, W]; gamma = 1, beta = 0; computed in float32. */
  batchNorm(name: string, x: Value): Value {
    return like(this.batchNorm32(name, like(x, 'float32')), x);
  }

  private batchNorm32(name: string, x: Value): Value {
    const c = x.shape[1];
    const gamma = this.param(`${name}.weight`, [c], { kind: 'constant', value: 1 }, true);
    const beta = this.param(`${name}.bias`, [c], { kind: 'constant', value: 0 }, true);
    const rm = this.buffer(`${name}.running_mean`, [c], 0);
    const rv = this.buffer(`${name}.running_var`, [c], 1);
    if (rm !== undefined && rv !== undefined) return op.batchNormEval(x, gamma, beta, rm, rv, this.eps);
    const { y, mean, variance } = op.batchNormTrain(x, gamma, beta, this.eps, this.syncReplicas);
    this.bnStats.push({ name, mean, variance, count: elementsPerChannel(x) });
    return y;
  }

  /**
   * BatchNorm without gamma/beta on [N, C] (SimCLR v2's last head layer), composed from primitives:
   *   y = (x - mean) / sqrt(var + eps), mean and biased var over axis 0.
   * Computed in float32 and returned as float32 whatever x's dtype: its output is the embedding the loss reads.
   */
  batchNormNoAffine(name: string, x16: Value): Value {
    const x = like(x16, 'float32');
    if (x.rank !== 2) throw new Error(`${name}: affine-free BatchNorm expects [N, C], got rank ${x.rank}`);
    const c = x.shape[1];
    const rm = this.buffer(`${name}.running_mean`, [c], 0);
    const rv = this.buffer(`${name}.running_var`, [c], 1);
    if (rm !== undefined && rv !== undefined) return op.div(op.sub(x, rm), op.sqrt(op.add(rv, this.eps)));
    const mean = this.batchMean(x); // [1, C]
    const xc = op.sub(x, mean);
    const variance = this.batchMean(op.mul(xc, xc)); // [1, C]
    this.bnStats.push({
      name,
      mean: op.reshape(mean, [c]),
      variance: op.reshape(variance, [c]),
      count: x.shape[0],
    });
    return op.div(xc, op.sqrt(op.add(variance, this.eps)));
  }

  /** Mean over axis 0 of [N, C], kept [1, C]; over every replica's rows when synchronized (autodiff sums back). */
  private batchMean(x: Value): Value {
    if (this.syncReplicas === 1) return op.reduceMean(x, [0], true);
    return op.mul(op.allReduceSum(op.reduceSum(x, [0], true)), 1 / (x.shape[0] * this.syncReplicas));
  }
}

/** v in the dtype of `to` (a Value's, or a float dtype); v itself when it already is. */
export function like(v: Value, to: Value | 'float16' | 'float32'): Value {
  const dtype = typeof to === 'string' ? to : to.dtype;
  if (v.dtype === dtype) return v;
  if (dtype !== 'float16' && dtype !== 'float32') throw new Error(`mixed precision: cannot compute ${v.name} in ${dtype}`);
  return op.cast(v, dtype);
}

function elementsPerChannel(x: Value): number {
  return x.shape.reduce((a, d, i) => (i === 1 ? a : a * d), 1);
}
