// Learning-rate schedule, evaluated every step:
//   base = lr * batch / 256 (linear scaling) or lr * sqrt(batch) (sqrt scaling, SimCLR appendix B.1)
//   warmup: lr(step) = base * (step + 1) / warmupSteps for step < warmupSteps (reaches base on the last warmup step)
//   then cosine: base * 0.5 * (1 + cos(pi * (step - warmupSteps) / (totalSteps - warmupSteps))), or fixed: base.
// Steps count from 0. Epoch lengths convert to steps with warmupSteps = round(warmupEpochs * stepsPerEpoch).

export type LrScaling = 'linear' | 'sqrt';
export type LrDecay = 'cosine' | 'fixed';

export function scaledLearningRate(lr: number, batchSize: number, scaling: LrScaling): number {
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`lr schedule: lr must be > 0, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`lr schedule: bad batch size ${batchSize}`);
  return scaling === 'linear' ? (lr * batchSize) / 256 : lr * Math.sqrt(batchSize);
}

export interface ScheduleOptions {
  /** The scaled base learning rate (see scaledLearningRate). */
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
  decay: LrDecay;
}

export class LrSchedule {
  constructor(readonly opts: ScheduleOptions) {
    const { baseLr, warmupSteps, totalSteps } = opts;
    if (!(baseLr >= 0) || !Number.isFinite(baseLr)) throw new Error(`lr schedule: bad base lr ${baseLr}`);
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new Error(`lr schedule: bad total steps ${totalSteps}`);
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps > totalSteps) {
      throw new Error(`lr schedule: warmup steps ${warmupSteps} must be an integer in [0, ${totalSteps}]`);
    }
  }

  static fromEpochs(o: {
    lr: number;
    batchSize: number;
    scaling: LrScaling;
    decay: LrDecay;
    warmupEpochs: number;
    epochs: number;
    stepsPerEpoch: number;
  }): LrSchedule {
    const totalSteps = o.epochs * o.stepsPerEpoch;
    return new LrSchedule({
      baseLr: scaledLearningRate(o.lr, o.batchSize, o.scaling),
      warmupSteps: Math.min(totalSteps, Math.round(o.warmupEpochs * o.stepsPerEpoch)),
      totalSteps,
      decay: o.decay,
    });
  }

  /** The learning rate for 0-based `step`; steps past the end keep the final value. */
  at(step: number): number {
    const { baseLr, warmupSteps, totalSteps, decay } = this.opts;
    if (!Number.isInteger(step) || step < 0) throw new Error(`lr schedule: bad step ${step}`);
    if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
    if (decay === 'fixed') return baseLr;
    const span = totalSteps - warmupSteps;
    if (span <= 0) return baseLr;
    const progress = Math.min(step - warmupSteps, span) / span;
    return baseLr * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
}
