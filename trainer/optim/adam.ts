// Adam and AdamW, PyTorch's torch.optim.Adam / AdamW semantics (t counts from 1):
//   Adam:  g' = g + wd * w (L2 in the gradient)        AdamW: w = w * (1 - lr * wd) first (decoupled), g' = g
//   m = b1 m + (1 - b1) g'     v = b2 v + (1 - b2) g'^2
//   w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
import { op, type Value } from '../graph/index.js';
import { StatefulOptimizer } from './stateful.js';
import type { GraphParam, GraphUpdate, OptimParam } from './types.js';

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  excludeOneDFromWeightDecay?: boolean;
}

export class Adam extends StatefulOptimizer {
  private readonly opts: Required<AdamOptions>;

  /** `adamw`: decoupled weight decay. */
  constructor(
    readonly kind: 'adam' | 'adamw',
    opts: AdamOptions = {},
  ) {
    super(['exp_avg', 'exp_avg_sq']);
    this.opts = {
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? (kind === 'adamw' ? 0.01 : 0),
      excludeOneDFromWeightDecay: opts.excludeOneDFromWeightDecay ?? false,
    };
  }

  protected override update(p: OptimParam, g: Float32Array, lr: number, t: number): void {
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const w = p.data;
    const wd = p.isOneD && this.opts.excludeOneDFromWeightDecay ? 0 : this.opts.weightDecay;
    const decay = this.kind === 'adamw' ? 1 - lr * wd : 1;
    const l2 = this.kind === 'adamw' ? 0 : wd;
    // The bias corrections as one step size and one reciprocal, PyTorch's
    // w -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps): one division and one sqrt per element where three
    // divisions ran: 1.33-1.54x faster over 2.8M parameters (make run's model; one-off, interleaved, 2-core Xeon VM).
    const stepSize = lr / (1 - b1 ** t);
    const invSqrtBc2 = 1 / Math.sqrt(1 - b2 ** t);
    const m = this.state.get('exp_avg', p);
    const v = this.state.get('exp_avg_sq', p);
    for (let i = 0; i < w.length; i++) {
      const wi = w[i] * decay;
      const gi = g[i] + l2 * wi;
      const mi = b1 * m[i] + (1 - b1) * gi;
      const vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = wi - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
    }
  }

  /** lr (AdamW's decay), lr / (1 - b1^t) and 1 / sqrt(1 - b2^t): in float64 on the host, as `update` computes them. */
  override stepScalars(lr: number, t: number): Record<string, number> {
    const { beta1: b1, beta2: b2 } = this.opts;
    return { lr, stepSize: lr / (1 - b1 ** t), invSqrtBc2: 1 / Math.sqrt(1 - b2 ** t) };
  }

  override graphUpdate(p: GraphParam, s: Readonly<Record<string, Value>>): GraphUpdate {
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const wd = p.isOneD && this.opts.excludeOneDFromWeightDecay ? 0 : this.opts.weightDecay;
    const decoupled = this.kind === 'adamw';
    const w = decoupled && wd !== 0 ? op.mul(p.w, op.sub(1, op.mul(s['lr']!, wd))) : p.w;
    const g = !decoupled && wd !== 0 ? op.add(p.g, op.mul(w, wd)) : p.g;
    const m = op.add(op.mul(p.slots['exp_avg']!, b1), op.mul(g, 1 - b1));
    const v = op.add(op.mul(p.slots['exp_avg_sq']!, b2), op.mul(op.mul(g, g), 1 - b2));
    const denom = op.add(op.mul(op.sqrt(v), s['invSqrtBc2']!), eps);
    return { w: op.sub(w, op.div(op.mul(m, s['stepSize']!), denom)), slots: { exp_avg: m, exp_avg_sq: v } };
  }
}
