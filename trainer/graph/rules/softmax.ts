// Softmax and LogSoftmax over one axis (opset 13 semantics).

import { type Value, normAxis } from '../ir.js';
import { defineOp } from '../registry.js';
import { emit1 } from './util.js';
import { exp, mul, sub } from './elementwise.js';
import { reduceSum } from './reduce.js';

export function softmax(x: Value, axis = -1): Value {
  return emit1('Softmax', [x], { axis: { kind: 'int', value: normAxis(axis, x.rank, 'softmax') } }, x.shape);
}

export function logSoftmax(x: Value, axis = -1): Value {
  return emit1('LogSoftmax', [x], { axis: { kind: 'int', value: normAxis(axis, x.rank, 'logSoftmax') } }, x.shape);
}

// y = softmax(x): dx = y * (dy - sum_axis(dy * y))
defineOp('Softmax', {
  grad: ({ node, dOut: [dy] }) => {
    const y = node.outputs[0]!;
    const axis = node.attrs['axis']!.value as number;
    return [mul(y, sub(dy!, reduceSum(mul(dy!, y), [axis], true)))];
  },
});

// y = logSoftmax(x): dx = dy - exp(y) * sum_axis(dy)
defineOp('LogSoftmax', {
  grad: ({ node, dOut: [dy] }) => {
    const y = node.outputs[0]!;
    const axis = node.attrs['axis']!.value as number;
    return [sub(dy!, mul(exp(y), reduceSum(dy!, [axis], true)))];
  },
});
