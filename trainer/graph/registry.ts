// What the op table holds for every op we know beyond shape inference: its reverse-mode rule and, for our own
// (non-ONNX) ops, how serialization lowers it to ONNX. Each rule file (rules/*.ts) exports its set of rules, and
// rules/index.ts builds the one table from the list of them.

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
  /** `domain`: an operator set other than ONNX's (the writer imports it). */
  op(opType: string, inputs: readonly string[], attrs?: Attrs, outputs?: readonly string[] | number, domain?: string): string[];
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

/** One rule file's ops, defined in the order they appear. */
export class RuleSet {
  readonly rules = new Map<string, OpDef>();

  define(opType: string, def: OpDef): void {
    if (this.rules.has(opType)) throw new Error(`op ${opType} defined twice`);
    this.rules.set(opType, def);
  }
}

/** The op table of the given rule sets; an op defined by two of them is an error. */
export function opTable(sets: readonly RuleSet[]): ReadonlyMap<string, OpDef> {
  const table = new Map<string, OpDef>();
  for (const set of sets) {
    for (const [opType, def] of set.rules) {
      if (table.has(opType)) throw new Error(`op ${opType} defined twice`);
      table.set(opType, def);
    }
  }
  return table;
}
