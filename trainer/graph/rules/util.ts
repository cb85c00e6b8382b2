// Helpers shared by the rule files: appending a node, broadcasting shapes, turning numbers into constants.

import type { Attrs, DType, Shape, Value } from '../ir.js';
import { fmtShape } from '../ir.js';
import type { OutSpec } from '../graph.js';

export function emit(opType: string, inputs: readonly Value[], attrs: Attrs, outs: readonly OutSpec[]): Value[] {
  return inputs[0]!.graph.addNode(opType, inputs, attrs, outs);
}

export function emit1(opType: string, inputs: readonly Value[], attrs: Attrs, shape: Shape, dtype: DType = inputs[0]!.dtype): Value {
  return emit(opType, inputs, attrs, [{ shape, dtype }])[0]!;
}

/** Numpy broadcasting of two shapes, or an error naming both. */
export function broadcast(a: Shape, b: Shape, what: string): Shape {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${what}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A number becomes a scalar constant of the other operand's dtype. */
export function lift(x: Value | number, like: Value | number): Value {
  if (typeof x !== 'number') return x;
  if (typeof like === 'number') throw new Error('an op needs at least one Value operand');
  return like.graph.scalar(x, like.dtype);
}

export function sameDType(what: string, ...vs: Value[]): DType {
  const d = vs[0]!.dtype;
  for (const v of vs) if (v.dtype !== d) throw new Error(`${what}: dtypes differ (${vs.map((x) => x.dtype).join(', ')})`);
  return d;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The numbers in an int64 constant (axes, shapes) that an op builder stored as an input. */
export function constInts(v: Value): number[] {
  const c = v.graph.constants.find((k) => k.value === v);
  if (!c || !(c.data instanceof BigInt64Array)) throw new Error(`${v.name} is not an int64 constant`);
  return Array.from(c.data, Number);
}
