// One table for every op we know beyond shape inference: its reverse-mode rule and, for our own (non-ONNX) ops, how
// serialization lowers it to ONNX. Rule files (rules/*.ts) fill the table when imported; ops.ts imports them all.

import type { Attrs, DType, Node, Value } from './ir.js';
import type { KernelTarget } from './target.js';

export interface GradContext {
  readonly node: Node;
  /** dLoss/dOutput per node output; null where no gradient flows into that output. */
  readonly dOut: readonly (Value | null)[];
  /** Which inputs need a gradient: rules skip the others (e.g. dX of the first conv on raw images). */
  readonly needs: readonly boolean[];
}

/** Returns dLoss/dInput per node input (null or undefined: no gradient). */
export type GradRule = (ctx: GradContext) => readonly (Value | null | undefined)[];

/** What a lowering writes into: ONNX nodes over value names. */
export interface Lowerer {
  /** The provider the ONNX is written for (ToOnnxOptions.target): lowerings use only ops it has kernels for. */
  readonly target: KernelTarget;
  op(opType: string, inputs: readonly string[], attrs?: Attrs, outputs?: readonly string[] | number): string[];
  ints(xs: readonly number[]): string;
  scalar(x: number, dtype: DType): string;
  /** A float32 constant of this shape. */
  floats(data: Float32Array, dims: readonly number[]): string;
}

export type LowerRule = (node: Node, b: Lowerer) => void;

export interface OpDef {
  /** Absent: the op is not differentiable (differentiating through it is an error unless `noGrad`). */
  readonly grad?: GradRule;
  /** Outputs carry no gradient at all (comparisons, shapes, stopGradient): gradient flow stops silently. */
  readonly noGrad?: boolean;
  /** Present for our own ops: expands the node into ONNX ops at serialization. */
  readonly lower?: LowerRule;
}

const table = new Map<string, OpDef>();

export function defineOp(opType: string, def: OpDef): void {
  if (table.has(opType)) throw new Error(`op ${opType} defined twice`);
  table.set(opType, def);
}

export function opDef(opType: string): OpDef | undefined {
  return table.get(opType);
}
