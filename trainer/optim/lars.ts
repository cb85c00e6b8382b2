// LARS with momentum, as SimCLR's reference implementation (LARSOptimizer in the TF code) does it:
//   g' = g + wd * w                                       (not for 1-D parameters)
//   trust = eta * ||w|| / ||g'||   (1 when either norm is 0, and always 1 for 1-D parameters)
//   v = momentum * v + lr * trust * g'
//   w = w - v                     (nesterov: w = w - (momentum * v + lr * trust * g'))
// 1-D parameters (biases, BatchNorm gamma/beta) get neither weight decay nor trust scaling.
import { op, type Value } from '../graph/index.js';
import { StatefulOptimizer } from './stateful.js';
import type { GraphParam, GraphUpdate, OptimParam } from './types.js';

export interface LarsOptions {
  momentum?: number;
  weightDecay?: number;
  /** The trust coefficient (eta); SimCLR uses 0.001. */
  trustCoefficient?: number;
  nesterov?: boolean;
}

export class Lars extends StatefulOptimizer {
  readonly kind = 'lars' as const;
  private readonly momentum: number;
  private readonly weightDecay: number;
  private readonly eta: number;
  private readonly nesterov: boolean;

  constructor(opts: LarsOptions = {}) {
    super(['momentum']);
    this.momentum = opts.momentum ?? 0.9;
    this.weightDecay = opts.weightDecay ?? 0;
    this.eta = opts.trustCoefficient ?? 0.001;
    this.nesterov = opts.nesterov ?? false;
  }

  protected override update(p: OptimParam, g: Float32Array, lr: number): void {
    const w = p.data;
    const v = this.state.get('momentum', p);
    const wd = p.isOneD ? 0 : this.weightDecay;
    // Norms in float64 over the decayed gradient.
    let wNorm2 = 0;
    let gNorm2 = 0;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] + wd * w[i];
      wNorm2 += w[i] * w[i];
      gNorm2 += gi * gi;
    }
    let trust = 1;
    if (!p.isOneD && wNorm2 > 0 && gNorm2 > 0) trust = (this.eta * Math.sqrt(wNorm2)) / Math.sqrt(gNorm2);
    const scaledLr = lr * trust;
    const m = this.momentum;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] + wd * w[i];
      const vi = m * v[i] + scaledLr * gi;
      v[i] = vi;
      w[i] -= this.nesterov ? m * vi + scaledLr * gi : vi;
    }
  }

  override graphUpdate(p: GraphParam, s: Readonly<Record<string, Value>>): GraphUpdate {
    const { w, g } = p;
    const v = p.slots['momentum']!;
    const m = this.momentum;
    const gd = p.isOneD || this.weightDecay === 0 ? g : op.add(g, op.mul(w, this.weightDecay));
    let scaledLr = s['lr']!;
    if (!p.isOneD) {
      const wNorm2 = op.reduceSum(op.mul(w, w));
      const gNorm2 = op.reduceSum(op.mul(gd, gd));
      const ratio = op.div(op.mul(op.sqrt(wNorm2), this.eta), op.sqrt(gNorm2));
      // 1 where either norm is 0 (the ratio's 0/0 or x/0 there is never selected).
      const trust = op.where(op.greater(wNorm2, 0), op.where(op.greater(gNorm2, 0), ratio, 1), 1);
      scaledLr = op.mul(scaledLr, trust);
    }
    const step = op.mul(gd, scaledLr);
    const vNew = op.add(op.mul(v, m), step);
    const wNew = op.sub(w, this.nesterov ? op.add(op.mul(vNew, m), step) : vNew);
    return { w: wNew, slots: { momentum: vNew } };
  }
}
