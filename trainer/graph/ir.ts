// The graph's data model: values with static shapes, nodes that produce them, and the attributes ONNX nodes carry.
// Everything else in trainer/graph builds on these types; nothing here knows about ONNX bytes or gradients.

import type { Graph } from './graph.js';

export type DType = 'float16' | 'float32' | 'float64' | 'int64' | 'int32' | 'bool';
export type Shape = readonly number[];

/** An ONNX attribute, tagged so that ints and floats serialize as the right kind. */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

export type Attrs = Readonly<Record<string, Attr>>;

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value: [...value] }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value: [...value] }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

export type ValueKind = 'input' | 'param' | 'constant' | 'node';

/** A tensor in the graph: its name is unique within the graph and its shape is known when it is created. */
export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly kind: ValueKind,
    /** The node that computes this value, for kind 'node'. */
    readonly producer?: Node,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }
}

/**
 * One operation. `opType` is an ONNX operator, or one of ours (see rules/*.ts `lower`) that serialization expands
 * into ONNX operators: that is how an op gets a closed-form gradient while running as plain ONNX.
 */
export interface Node {
  readonly id: number;
  readonly opType: string;
  readonly inputs: readonly Value[];
  readonly outputs: Value[];
  readonly attrs: Attrs;
  /** Set on nodes built inside Graph.withScope (autodiff: 'grad'); prefixes the ONNX node names ('grad/Conv_12'). */
  readonly scope?: string;
}

/** A constant tensor stored in the model (an ONNX initializer). */
export interface ConstantData {
  readonly value: Value;
  /** float16 as IEEE half bit patterns (Node 20 has no Float16Array). */
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

export function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Normalises a possibly negative axis against a rank, with a clear error when it is out of range. */
export function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}
