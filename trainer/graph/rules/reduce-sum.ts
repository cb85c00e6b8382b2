// ReduceSum's builder and the axis helpers of every reduction, apart from reduce.ts's rules: the elementwise rules
// sum broadcast gradients with it, and the reduction rules use elementwise ops, so one file would be an import cycle.

import { type Value, normAxis } from '../ir.js';
import { emit1, range } from './util.js';

export function normAxes(x: Value, axes: readonly number[] | undefined, what: string): number[] {
  const list = axes ?? range(x.rank);
  const out = [...new Set(list.map((a) => normAxis(a, x.rank, what)))].sort((a, b) => a - b);
  return out;
}

export function reducedShape(x: Value, axes: readonly number[], keepdims: boolean): number[] {
  return x.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d]));
}

/** ReduceSum (axes as an input since opset 13). All axes when `axes` is omitted. */
export function reduceSum(x: Value, axes?: readonly number[], keepdims = false): Value {
  const ax = normAxes(x, axes, 'reduceSum');
  if (ax.length === 0) return x;
  return emit1('ReduceSum', [x, x.graph.ints(ax)], { keepdims: { kind: 'int', value: keepdims ? 1 : 0 } }, reducedShape(x, ax, keepdims));
}
