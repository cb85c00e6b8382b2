// SGD with momentum, PyTorch's torch.optim.SGD semantics (dampening 0):
//   g' = g + wd * w          (1-D parameters skipped when excludeOneDFromWeightDecay)
//   b = momentum * b + g'    (b starts at 0, so the first step gives b = g', as PyTorch's clone does)
//   w = w - lr * b           (nesterov: w = w - lr * (g' + momentum * b))
import { op, type Value } from '../graph/index.js';
import { StatefulOptimizer } from './stateful.js';
import type { GraphParam, GraphUpdate, OptimParam } from './types.js';

export interface SgdOptions {
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  excludeOneDFromWeightDecay?: boolean;
}

export class Sgd extends StatefulOptimizer {
  readonly kind = 'sgd' as const;
  private readonly opts: Required<SgdOptions>;

  constructor(opts: SgdOptions = {}) {
    super(['momentum']);
    this.opts = {
      momentum: opts.momentum ?? 0.9,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      excludeOneDFromWeightDecay: opts.excludeOneDFromWeightDecay ?? false,
    };
    if (this.opts.nesterov && this.opts.momentum <= 0) throw new Error('sgd: nesterov needs momentum > 0');
  }

  protected override update(p: OptimParam, g: Float32Array, lr: number): void {
    const { momentum: m, nesterov } = this.opts;
    const w = p.data;
    const wd = p.isOneD && this.opts.excludeOneDFromWeightDecay ? 0 : this.opts.weightDecay;
    // Without momentum there is no buffer: the state dict stays empty, as PyTorch's does.
    const b = m > 0 ? this.state.get('momentum', p) : undefined;
    for (let i = 0; i < w.length; i++) {
      let d = g[i] + wd * w[i];
      if (b !== undefined) {
        const bi = m * b[i] + d;
        b[i] = bi;
        d = nesterov ? d + m * bi : bi;
      }
      w[i] -= lr * d;
    }
  }

  override slotsOf(_isOneD: boolean): readonly string[] {
    return this.opts.momentum > 0 ? ['momentum'] : [];
  }

  override graphUpdate(p: GraphParam, s: Readonly<Record<string, Value>>): GraphUpdate {
    const { momentum: m, nesterov } = this.opts;
    const wd = p.isOneD && this.opts.excludeOneDFromWeightDecay ? 0 : this.opts.weightDecay;
    let d = wd === 0 ? p.g : op.add(p.g, op.mul(p.w, wd));
    const slots: Record<string, Value> = {};
    if (m > 0) {
      const b = op.add(op.mul(p.slots['momentum']!, m), d);
      slots['momentum'] = b;
      d = nesterov ? op.add(d, op.mul(b, m)) : b;
    }
    return { w: op.sub(p.w, op.mul(d, s['lr']!)), slots };
  }
}
