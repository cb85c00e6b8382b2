// Reductions over axes. Gradients broadcast dy back over the reduced axes (Expand), scaled for mean, masked for max.

import { type Value, sizeOf } from '../ir.js';
import { RuleSet } from '../registry.js';
import { constInts, emit, emit1 } from './util.js';
import { normAxes, reducedShape, reduceSum } from './reduce-sum.js';
import { cast, div, equal, mul, sumToShape } from './elementwise.js';
import { reshape } from './shape.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const reduceRules = new RuleSet();

export { reduceSum };

function reduceAttr(opType: string, x: Value, axes: readonly number[] | undefined, keepdims: boolean): Value {
  const ax = normAxes(x, axes, opType);
  if (ax.length === 0) return x;
  return emit1(opType, [x], { axes: { kind: 'ints', value: ax }, keepdims: { kind: 'int', value: keepdims ? 1 : 0 } }, reducedShape(x, ax, keepdims));
}

export const reduceMean = (x: Value, axes?: readonly number[], keepdims = false): Value => reduceAttr('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Value, axes?: readonly number[], keepdims = false): Value => reduceAttr('ReduceMax', x, axes, keepdims);

/**
 * The k largest entries along the last axis, largest first (equal values: the lower index first, as ONNX TopK
 * specifies): their values and int64 indices. Not differentiable: it selects, and what is selected is data.
 */
export function topK(x: Value, k: number): { values: Value; indices: Value } {
  const n = x.shape[x.rank - 1];
  if (n === undefined || !Number.isInteger(k) || k < 1 || k > n) throw new Error(`topK: k must be an integer in [1, ${n ?? 0}], got ${k}`);
  const shape = [...x.shape.slice(0, -1), k];
  const [values, indices] = emit('TopK', [x, x.graph.ints([k])], { axis: { kind: 'int', value: x.rank - 1 } }, [
    { shape, dtype: x.dtype },
    { shape, dtype: 'int64' },
  ]);
  return { values: values!, indices: indices! };
}

/** [N,C,H,W] -> [N,C]: the mean over the spatial axes. */
export function globalAvgPool(x: Value): Value {
  if (x.rank !== 4) throw new Error(`globalAvgPool: expected [N,C,H,W], got rank ${x.rank}`);
  return reduceMean(x, [2, 3], false);
}

/** Broadcasts y (reduced over `axes`, with or without kept dims) back to `like`'s shape. */
export function expandBack(y: Value, like: Value, axes: readonly number[]): Value {
  const kept = reducedShape(like, axes, true);
  const yk = y.rank === kept.length ? y : reshape(y, kept);
  return expand(yk, like.shape);
}

export function expand(x: Value, shape: readonly number[]): Value {
  return emit1('Expand', [x, x.graph.ints(shape)], {}, shape);
}

function attrAxes(v: { attrs: Record<string, { value: unknown }> }): number[] {
  return v.attrs['axes']!.value as number[];
}

// y[kept] = sum_axes x: dx = expand(dy)
reduceRules.define('ReduceSum', {
  grad: ({ node: { inputs: [x, axes] }, dOut: [dy] }) => [expandBack(dy!, x!, constInts(axes!)), null],
});

// y[kept] = mean_axes x: dx = expand(dy) / count
reduceRules.define('ReduceMean', {
  grad: ({ node, dOut: [dy] }) => {
    const x = node.inputs[0]!;
    const axes = attrAxes(node);
    const count = sizeOf(axes.map((a) => x.shape[a]!));
    return [expandBack(mul(dy!, 1 / count), x, axes)];
  },
});

// y[kept] = max_axes x: dx = dy split equally among the elements equal to the max (ties share; matches central FD
// for two-way ties and what TensorFlow/PyTorch amax do).
reduceRules.define('ReduceMax', {
  grad: ({ node, dOut: [dy] }) => {
    const x = node.inputs[0]!;
    const axes = attrAxes(node);
    const mask = cast(equal(x, expandBack(node.outputs[0]!, x, axes)), x.dtype as 'float16' | 'float32' | 'float64');
    const count = reduceSum(mask, axes, true);
    return [mul(mask, expandBack(div(reshapeKept(dy!, x, axes), count), x, axes))];
  },
});

function reshapeKept(dy: Value, x: Value, axes: readonly number[]): Value {
  const kept = reducedShape(x, axes, true);
  return dy.rank === kept.length ? dy : reshape(dy, kept);
}

reduceRules.define('Expand', {
  grad: ({ node: { inputs: [x] }, dOut: [dy] }) => [sumToShape(dy!, x!.shape), null],
});

reduceRules.define('TopK', {}); // no gradient rule: differentiating through a selection is an error, not a silent zero
