// What every optimizer here shares around its update rule: the step counter, the per-parameter state slots, the
// argument checks, and stateDict/loadStateDict. A subclass holds only its hyper-parameters and `update`, so the
// checkpoint layout (`<slot>/<param name>` tensors + step) is written in one place for every kind.
import type { Value } from '../graph/index.js';
import type { GradSource, GraphParam, GraphUpdate, OptimParam, Optimizer, OptimizerKind, OptimizerState } from './types.js';

export abstract class StatefulOptimizer implements Optimizer {
  abstract readonly kind: OptimizerKind;
  /** Momentum buffers, Adam moments: whatever `update` keeps per parameter. */
  protected readonly state: StateSlots;
  private steps = 0;

  constructor(private readonly slotNames: readonly string[]) {
    this.state = new StateSlots(slotNames);
  }

  slotsOf(_isOneD: boolean): readonly string[] {
    return this.slotNames;
  }

  beginStep(lr: number): number {
    checkLr(lr);
    this.steps += 1;
    return this.steps;
  }

  cancelStep(): void {
    if (this.steps === 0) throw new Error('optimizer: no step to cancel');
    this.steps -= 1;
  }

  stepScalars(lr: number, _t: number): Record<string, number> {
    return { lr };
  }

  abstract graphUpdate(p: GraphParam, scalars: Readonly<Record<string, Value>>): GraphUpdate;

  get stepCount(): number {
    return this.steps;
  }

  step(params: readonly OptimParam[], grads: GradSource, lr: number): void {
    checkLr(lr);
    const t = this.steps + 1;
    for (const p of params) this.update(p, gradOf(grads, p), lr, t);
    this.steps = t;
  }

  /** Updates `p` (and its state slots) in place; `t` is the 1-based number of the step being taken. */
  protected abstract update(p: OptimParam, g: Float32Array, lr: number, t: number): void;

  stateDict(): OptimizerState {
    return { kind: this.kind, step: this.steps, tensors: this.state.toRecord() };
  }

  loadStateDict(s: OptimizerState): void {
    if (s.kind !== this.kind) throw new Error(`optimizer: cannot load '${s.kind}' state into a '${this.kind}' optimizer`);
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`optimizer: bad step count ${s.step}`);
    this.state.load(s.tensors);
    this.steps = s.step;
  }
}

/** Per-name state slots, created as zeros on first use; keys are `<slot>/<param name>`. */
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

  /** Deep copies, sorted by key so that checkpoints list them in a stable order. */
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

function gradOf(grads: GradSource, p: OptimParam): Float32Array {
  const g = grads instanceof Map ? grads.get(p.name) : (grads as Readonly<Record<string, Float32Array>>)[p.name];
  if (g === undefined) throw new Error(`optimizer: no gradient for parameter '${p.name}'`);
  if (g.length !== p.data.length) {
    throw new Error(`optimizer: gradient for '${p.name}' has ${g.length} elements, parameter has ${p.data.length}`);
  }
  return g;
}

function checkLr(lr: number): void {
  if (!Number.isFinite(lr) || lr < 0) throw new Error(`optimizer: learning rate must be finite and >= 0, got ${lr}`);
}
