// SGD with momentum, PyTorch's torch.optim.SGD semantics (dampening 0):
//   g' = g + wd * w          (1-D parameters skipped when excludeOneDFromWeightDecay)
//   b = momentum * b + g'    (b starts at 0, so the first step gives b = g', as PyTorch's clone does)
//   w = w - lr * b           (nesterov: w = w - lr * (g' + momentum * b))
import {
  StateSlots,
  checkLr,
  checkState,
  gradOf,
  type GradSource,
  type OptimParam,
  type Optimizer,
  type OptimizerState,
} from './types.js';

export interface SgdOptions {
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  excludeOneDFromWeightDecay?: boolean;
}

export class Sgd implements Optimizer {
  readonly kind = 'sgd' as const;
  private steps = 0;
  private readonly state = new StateSlots(['momentum']);
  private readonly opts: Required<SgdOptions>;

  constructor(opts: SgdOptions = {}) {
    this.opts = {
      momentum: opts.momentum ?? 0.9,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      excludeOneDFromWeightDecay: opts.excludeOneDFromWeightDecay ?? false,
    };
    if (this.opts.nesterov && this.opts.momentum <= 0) throw new Error('sgd: nesterov needs momentum > 0');
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: readonly OptimParam[], grads: GradSource, lr: number): void {
    checkLr(lr);
    const { momentum: m, nesterov } = this.opts;
    for (const p of params) {
      const g = gradOf(grads, p);
      const w = p.data;
      const wd = p.isOneD && this.opts.excludeOneDFromWeightDecay ? 0 : this.opts.weightDecay;
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
    this.steps++;
  }

  stateDict(): OptimizerState {
    return { kind: this.kind, step: this.steps, tensors: this.state.toRecord() };
  }

  loadStateDict(s: OptimizerState): void {
    checkState(this.kind, s);
    this.state.load(s.tensors);
    this.steps = s.step;
  }
}
