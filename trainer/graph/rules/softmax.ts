// Softmax and LogSoftmax over one axis (opset 13 semantics).

import { type Value, normAxis } from '../ir.js';
import { RuleSet } from '../registry.js';
import { hasKernel } from '../target.js';
import { emit1 } from './util.js';
import { exp, mul, sub } from './elementwise.js';
import { reduceSum } from './reduce.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const softmaxRules = new RuleSet();

export function softmax(x: Value, axis = -1): Value {
  return emit1('Softmax', [x], { axis: { kind: 'int', value: normAxis(axis, x.rank, 'softmax') } }, x.shape);
}

export function logSoftmax(x: Value, axis = -1): Value {
  return emit1('LogSoftmax', [x], { axis: { kind: 'int', value: normAxis(axis, x.rank, 'logSoftmax') } }, x.shape);
}

// y = softmax(x): dx = y * (dy - sum_axis(dy * y))
softmaxRules.define('Softmax', {
  grad: ({ node, dOut: [dy] }) => {
    const y = node.outputs[0]!;
    const axis = node.attrs['axis']!.value as number;
    return [mul(y, sub(dy!, reduceSum(mul(dy!, y), [axis], true)))];
  },
});

// y = logSoftmax(x): dx = dy - exp(y) * sum_axis(dy)
softmaxRules.define('LogSoftmax', {
  grad: ({ node, dOut: [dy] }) => {
    const y = node.outputs[0]!;
    const axis = node.attrs['axis']!.value as number;
    return [sub(dy!, mul(exp(y), reduceSum(dy!, [axis], true)))];
  },
  // Where the target has no LogSoftmax kernel (WebGPU): (x - max) - log(sum(exp(x - max))), as ORT's CPU kernel does.
  lower: (node, b) => {
    const [x] = node.inputs.map((v) => v.name) as [string];
    const y = node.outputs[0]!.name;
    if (hasKernel(b.target, 'LogSoftmax')) {
      b.op('LogSoftmax', [x], node.attrs, [y]);
      return;
    }
    const axes = { kind: 'ints', value: [node.attrs['axis']!.value as number] } as const;
    const keep = { keepdims: { kind: 'int', value: 1 } } as const;
    const [shifted] = b.op('Sub', [x, b.op('ReduceMax', [x], { axes, ...keep })[0]!]);
    const [sum] = b.op('ReduceSum', [b.op('Exp', [shifted!])[0]!, b.ints(axes.value)], keep);
    b.op('Sub', [shifted!, b.op('Log', [sum!])[0]!], {}, [y]);
  },
});
