// The optimizer contract: plain TypeScript loops over Float32Array parameters, gradients and state.
// Parameters are passed to every step (not captured at construction) so a checkpoint load that swaps a parameter's
// array cannot leave the optimizer updating a stale copy; state is keyed by parameter name and is serialisable.

/** One trainable tensor as the optimizer sees it: updated in place. */
export interface OptimParam {
  readonly name: string;
  readonly data: Float32Array;
  /** Biases and BatchNorm gamma/beta: LARS applies neither weight decay nor trust scaling to them. */
  readonly isOneD: boolean;
}

/** Gradients by parameter name. */
export type GradSource = ReadonlyMap<string, Float32Array> | Readonly<Record<string, Float32Array>>;

export type OptimizerKind = 'lars' | 'sgd' | 'adam' | 'adamw';

/** Everything a checkpoint needs to continue exactly: `tensors` keys are `<slot>/<param name>`. */
export interface OptimizerState {
  readonly kind: OptimizerKind;
  readonly step: number;
  readonly tensors: Readonly<Record<string, Float32Array>>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Steps taken so far (Adam's bias correction uses it). */
  readonly stepCount: number;
  /** Applies one update in place with this step's learning rate. */
  step(params: readonly OptimParam[], grads: GradSource, lr: number): void;
  /** A deep copy of the state, safe to serialise while training continues. */
  stateDict(): OptimizerState;
  /** Restores a state written by stateDict of an optimizer of the same kind. */
  loadStateDict(state: OptimizerState): void;
}

export function gradOf(grads: GradSource, p: OptimParam): Float32Array {
  const g = grads instanceof Map ? grads.get(p.name) : (grads as Readonly<Record<string, Float32Array>>)[p.name];
  if (g === undefined) throw new Error(`optimizer: no gradient for parameter '${p.name}'`);
  if (g.length !== p.data.length) {
    throw new Error(`optimizer: gradient for '${p.name}' has ${g.length} elements, parameter has ${p.data.length}`);
  }
  return g;
}

/**
 * Per-name state slots (momentum buffers, Adam moments), created as zeros on first use.
 * Shared by the optimizers so that stateDict/loadStateDict behave the same everywhere.
 */
export class StateSlots {
  private readonly slots = new Map<string, Float32Array>();

  constructor(private readonly slotNames: readonly string[]) {}

  get(slot: string, p: OptimParam): Float32Array {
    const key = `${slot}/${p.name}`;
    let s = this.slots.get(key);
    if (s === undefined) {
      s = new Float32Array(p.data.length);
      this.slots.set(key, s);
    } else if (s.length !== p.data.length) {
      throw new Error(`optimizer: state '${key}' has ${s.length} elements, parameter has ${p.data.length}`);
    }
    return s;
  }

  toRecord(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of [...this.slots.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      out[k] = Float32Array.from(v);
    }
    return out;
  }

  load(tensors: Readonly<Record<string, Float32Array>>): void {
    const next = new Map<string, Float32Array>();
    for (const [k, v] of Object.entries(tensors)) {
      const slot = k.slice(0, k.indexOf('/'));
      if (!this.slotNames.includes(slot)) {
        throw new Error(`optimizer: unexpected state tensor '${k}' (slots: ${this.slotNames.join(', ')})`);
      }
      next.set(k, Float32Array.from(v));
    }
    this.slots.clear();
    for (const [k, v] of next) this.slots.set(k, v);
  }
}

export function checkState(kind: OptimizerKind, state: OptimizerState): void {
  if (state.kind !== kind) throw new Error(`optimizer: cannot load '${state.kind}' state into a '${kind}' optimizer`);
  if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`optimizer: bad step count ${state.step}`);
}

export function checkLr(lr: number): void {
  if (!Number.isFinite(lr) || lr < 0) throw new Error(`optimizer: learning rate must be finite and >= 0, got ${lr}`);
}
