import type { Feed, ParameterStore } from '../engine/index.js';
// Dynamic loss scaling for fp16 training (Micikevicius et al. 2018; PyTorch's GradScaler): the backward is seeded with
// `scale` so small float16 gradients do not flush to zero; the update divides it out. A step whose gradients are not
// finite (a float16 overflow) changes nothing and halves the scale; after `growthInterval` good steps in a row the
// scale doubles. The state goes into checkpoints, so a resumed run continues with the scale it had.

export interface LossScaleState {
  readonly scale: number;
  /** Good steps since the scale last changed. */
  readonly goodSteps: number;
}

export interface LossScaleOptions {
  /** PyTorch's defaults: 2^16, x2 after 2000 good steps, x0.5 on an overflow. */
  initScale?: number;
  growthInterval?: number;
}

/** Below this the model overflows float16 whatever the scale: training cannot go on in fp16. */
export const MIN_LOSS_SCALE = 2 ** -14;

export class LossScaleUnderflowError extends Error {
  constructor(step: number) {
    super(`--precision=fp16: the loss scale fell below ${MIN_LOSS_SCALE} at step ${step} (every step overflows float16): ` +
      'use --precision=fp32, or lower --lr');
    this.name = 'LossScaleUnderflowError';
  }
}

export class DynamicLossScale {
  private current: number;
  private good = 0;
  readonly growthInterval: number;

  constructor(o: LossScaleOptions = {}) {
    this.current = o.initScale ?? 2 ** 16;
    this.growthInterval = o.growthInterval ?? 2000;
  }

  get scale(): number {
    return this.current;
  }

  /** After a step: whether its gradients were finite (it was applied). Returns false for a skipped step. */
  update(finite: boolean, step: number): boolean {
    if (!finite) {
      this.current /= 2;
      this.good = 0;
      if (this.current < MIN_LOSS_SCALE) throw new LossScaleUnderflowError(step);
      return false;
    }
    this.good += 1;
    if (this.good >= this.growthInterval) {
      this.current *= 2;
      this.good = 0;
    }
    return true;
  }

  state(): LossScaleState {
    return { scale: this.current, goodSteps: this.good };
  }

  load(s: LossScaleState): void {
    if (!(s.scale > 0) || !Number.isFinite(s.scale)) throw new Error(`loss scale: bad saved scale ${s.scale}`);
    if (!Number.isInteger(s.goodSteps) || s.goodSteps < 0) throw new Error(`loss scale: bad saved good-step count ${s.goodSteps}`);
    this.current = s.scale;
    this.good = s.goodSteps;
  }
}

/** What applyScaled needs of an update (update.ts's Update). */
interface ScaledUpdate {
  run(store: ParameterStore, stepOutputs: Readonly<Record<string, Feed>>, lr: number, lossScale?: number): Promise<number>;
}

/**
 * The update of a step whose gradients are `scaler.scale` times too large: divides it out, or skips the step (changing
 * nothing) when they are not finite; then moves the scale. Returns the unscaled gradient norm and whether the step
 * was applied.
 */
export async function applyScaled(
  update: ScaledUpdate,
  scaler: DynamicLossScale,
  store: ParameterStore,
  stepOutputs: Readonly<Record<string, Feed>>,
  lr: number,
  step: number,
): Promise<{ norm: number; applied: boolean }> {
  const norm = await update.run(store, stepOutputs, lr, scaler.scale);
  return { norm, applied: scaler.update(Number.isFinite(norm), step) };
}
