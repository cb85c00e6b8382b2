// Optimizers, learning-rate schedule and gradient clipping for the trainer.
import { Adam } from './adam.js';
import { Lars } from './lars.js';
import { Sgd } from './sgd.js';
import type { Optimizer, OptimizerKind } from './types.js';

export { Adam, type AdamOptions } from './adam.js';
export { clipGradNorm, globalGradNorm } from './clip.js';
export { Lars, type LarsOptions } from './lars.js';
export { LrSchedule, scaledLearningRate, type LrDecay, type LrScaling, type ScheduleOptions } from './schedule.js';
export { Sgd, type SgdOptions } from './sgd.js';
export type { GradSource, OptimParam, Optimizer, OptimizerKind, OptimizerState } from './types.js';

export interface OptimizerConfig {
  optimizer: OptimizerKind;
  /** Momentum for lars/sgd, beta1 for adam/adamw. */
  momentum: number;
  weightDecay: number;
  nesterov?: boolean;
}

/** Builds the optimizer named by --optimizer; LARS always excludes 1-D parameters, the others decay everything. */
export function createOptimizer(c: OptimizerConfig): Optimizer {
  switch (c.optimizer) {
    case 'lars':
      return new Lars({
        momentum: c.momentum,
        weightDecay: c.weightDecay,
        nesterov: c.nesterov,
        trustCoefficient: 0.001,
      });
    case 'sgd':
      return new Sgd({ momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov });
    case 'adam':
    case 'adamw':
      return new Adam(c.optimizer, { beta1: c.momentum, weightDecay: c.weightDecay });
  }
}
