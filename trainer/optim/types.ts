// The optimizer contract: plain TypeScript loops over Float32Array parameters, gradients and state, and the same rule
// as graph ops for the device path (trainer/train/device-update.ts), where parameters and state stay in the provider's
// memory. Parameters are passed to every step (not captured at construction) so a checkpoint load that swaps a
// parameter's array cannot leave the optimizer updating a stale copy; state is keyed by parameter name and is
// serialisable, in one layout for both paths.
import type { Value } from '../graph/index.js';

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

  /** The state slots `step` keeps for a parameter (e.g. ['momentum']); none for plain SGD. */
  slotsOf(isOneD: boolean): readonly string[];
  /** Counts a step taken by the graph form (after checking lr) and returns its 1-based number t. */
  beginStep(lr: number): number;
  /** Uncounts the last beginStep: the graph form skipped that step (an fp16 overflow) and changed nothing. */
  cancelStep(): void;
  /** The graph form's per-step scalar inputs, computed on the host in float64 from lr and t. */
  stepScalars(lr: number, t: number): Record<string, number>;
  /** One parameter's update as graph ops over float32 values: the rule `step` applies, side by side with it. */
  graphUpdate(p: GraphParam, scalars: Readonly<Record<string, Value>>): GraphUpdate;
}

/** A parameter in the graph form: its value, gradient and state slots as graph values. */
export interface GraphParam {
  readonly w: Value;
  readonly g: Value;
  readonly isOneD: boolean;
  readonly slots: Readonly<Record<string, Value>>;
}

/** The new value of a parameter and of each of its slots. */
export interface GraphUpdate {
  readonly w: Value;
  readonly slots: Readonly<Record<string, Value>>;
}
