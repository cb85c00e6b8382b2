// Batch normalization over every axis but 1 (x[N,C] or x[N,C,H,W]).
// Training mode is our own op 'BatchNormTrain', lowered to ReduceMean/Sub/Mul/... at serialization (not ORT's
// BatchNormalization training_mode=1, which gives wrong Y in some setups: ORT issue 29790), so that its backward can
// be the closed form instead of the chain of primitive rules. Eval mode is ONNX BatchNormalization (inference).

import { type Value, fmtShape } from '../ir.js';
import { defineOp } from '../registry.js';
import { emit, emit1, range } from './util.js';
import { add, div, mul, sub } from './elementwise.js';
import { reduceSum } from './reduce.js';
import { reshape } from './shape.js';

export interface BatchNormTrainResult {
  y: Value;
  /** Batch mean [C]. */
  mean: Value;
  /** Biased batch variance [C] (the one used for y; an unbiased running update is the caller's choice). */
  variance: Value;
}

function checkBn(what: string, x: Value, ...perChannel: Value[]): number {
  if (x.rank < 2) throw new Error(`${what}: x must be [N,C,...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1]!;
  for (const p of perChannel) {
    if (p.rank !== 1 || p.shape[0] !== c) throw new Error(`${what}: ${p.name} must be [${c}], got ${fmtShape(p.shape)}`);
  }
  return c;
}

const keptShape = (x: Value): number[] => x.shape.map((d, i) => (i === 1 ? d : 1));
const statAxes = (x: Value): number[] => range(x.rank).filter((i) => i !== 1);

export function batchNormTrain(x: Value, gamma: Value, beta: Value, eps = 1e-5): BatchNormTrainResult {
  const c = checkBn('batchNormTrain', x, gamma, beta);
  const [y, mean, variance] = emit('BatchNormTrain', [x, gamma, beta], { epsilon: { kind: 'float', value: eps } }, [
    { shape: x.shape, dtype: x.dtype },
    { shape: [c], dtype: x.dtype },
    { shape: [c], dtype: x.dtype },
    { shape: x.shape, dtype: x.dtype }, // xhat, kept for the backward pass
    { shape: keptShape(x), dtype: x.dtype }, // 1/sqrt(var+eps), kept for the backward pass
  ]);
  return { y: y!, mean: mean!, variance: variance! };
}

export function batchNormEval(x: Value, gamma: Value, beta: Value, runningMean: Value, runningVar: Value, eps = 1e-5): Value {
  checkBn('batchNormEval', x, gamma, beta, runningMean, runningVar);
  return emit1('BatchNormalization', [x, gamma, beta, runningMean, runningVar], { epsilon: { kind: 'float', value: eps } }, x.shape);
}

defineOp('BatchNormTrain', {
  lower: (node, b) => {
    const [x, gamma, beta] = node.inputs as [Value, Value, Value];
    const [y, mean, variance, xhat, invstd] = node.outputs.map((v) => v.name) as [string, string, string, string, string];
    const eps = node.attrs['epsilon']!.value as number;
    const axes = { axes: { kind: 'ints', value: statAxes(x) }, keepdims: { kind: 'int', value: 1 } } as const;
    const kept = b.ints(keptShape(x));
    const [meanK] = b.op('ReduceMean', [x.name], axes);
    const [xc] = b.op('Sub', [x.name, meanK!]);
    const [sq] = b.op('Mul', [xc!, xc!]);
    const [varK] = b.op('ReduceMean', [sq!], axes);
    const [std] = b.op('Sqrt', b.op('Add', [varK!, b.scalar(eps, x.dtype)]));
    b.op('Reciprocal', [std!], {}, [invstd]);
    b.op('Mul', [xc!, invstd], {}, [xhat]);
    const [scaled] = b.op('Mul', [xhat, b.op('Reshape', [gamma.name, kept])[0]!]);
    b.op('Add', [scaled!, b.op('Reshape', [beta.name, kept])[0]!], {}, [y]);
    const flat = b.ints([x.shape[1]!]);
    b.op('Reshape', [meanK!, flat], {}, [mean]);
    b.op('Reshape', [varK!, flat], {}, [variance]);
  },
  // Closed form, M = elements per channel, sums over every axis but 1:
  //   dbeta = sum(dy), dgamma = sum(dy * xhat)
  //   dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M)  [+ dmean/M + dvar * 2 * xhat / (invstd * M)]
  grad: ({ node, dOut: [dy, dMean, dVar], needs }) => {
    const [x, gamma] = node.inputs as [Value, Value];
    const xhat = node.outputs[3]!;
    const invstd = node.outputs[4]!;
    const axes = statAxes(x);
    const kept = keptShape(x);
    const m = x.size / x.shape[1]!;
    let dx: Value | null = null;
    let dgamma: Value | null = null;
    let dbeta: Value | null = null;
    if (dy) {
      const sumDy = reduceSum(dy, axes, true);
      const sumDyXhat = reduceSum(mul(dy, xhat), axes, true);
      dgamma = needs[1] ? reshape(sumDyXhat, gamma.shape) : null;
      dbeta = needs[2] ? reshape(sumDy, gamma.shape) : null;
      if (needs[0]) {
        const centred = sub(sub(dy, mul(sumDy, 1 / m)), mul(xhat, mul(sumDyXhat, 1 / m)));
        dx = mul(centred, mul(reshape(gamma, kept), invstd));
      }
    }
    if (needs[0] && dMean) dx = addOrSet(dx, mul(reshape(dMean, kept), 1 / m));
    if (needs[0] && dVar) dx = addOrSet(dx, mul(xhat, div(mul(reshape(dVar, kept), 2 / m), invstd)));
    return [dx, dgamma, dbeta];
  },
});

function addOrSet(acc: Value | null, v: Value): Value {
  return acc ? add(acc, v) : v;
}

// y = gamma * (x - rm) / sqrt(rv + eps) + beta with running stats as constants:
//   dx = dy * gamma * invstd, dgamma = sum(dy * xhat), dbeta = sum(dy)
defineOp('BatchNormalization', {
  grad: ({ node, dOut: [dy], needs }) => {
    const [x, gamma, , rm, rv] = node.inputs as [Value, Value, Value, Value, Value];
    const eps = node.attrs['epsilon']?.value as number ?? 1e-5;
    const kept = keptShape(x);
    const invstd = reshape(div(1, sqrtOf(add(rv, eps))), kept);
    const xhat = mul(sub(x, reshape(rm, kept)), invstd);
    return [
      needs[0] ? mul(dy!, mul(reshape(gamma, kept), invstd)) : null,
      needs[1] ? reduceSum(mul(dy!, xhat), statAxes(x), false) : null,
      needs[2] ? reduceSum(dy!, statAxes(x), false) : null,
      null,
      null,
    ];
  },
});

function sqrtOf(v: Value): Value {
  return emit1('Sqrt', [v], {}, v.shape);
}
