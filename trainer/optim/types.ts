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
