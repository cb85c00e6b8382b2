// Batch normalization over every axis but 1 (x[N,C] or x[N,C,H,W]).
// Training mode is our own op 'BatchNormTrain', lowered at serialization to the batch statistics (ReduceMean, Sub,
// Mul) and ONNX BatchNormalization in inference mode fed with them (not ORT's training_mode=1, which gives wrong Y in
// some setups: ORT issue 29790), so that its backward can be the closed form instead of the chain of primitive rules.
// Eval mode is ONNX BatchNormalization (inference) with the running statistics.
// Synchronized (replicas > 1, PyTorch's SyncBatchNorm): the statistics are over the global batch of every replica,
// each replica holding an equal share; the per-channel sums are added across replicas by AllReduceSum inside the
// graph (twice forward: sum, then sum of squared deviations; once backward: sum(dy) and sum(dy * xc) together).

import { type Node, type Value, fmtShape } from '../ir.js';
import { RuleSet } from '../registry.js';
import { emit, emit1, range } from './util.js';
import { add, div, mul, sub } from './elementwise.js';
import { reduceSum } from './reduce.js';
import { COLLECTIVES_DOMAIN, allReduceSum } from './collectives.js';
import { concat, reshape, slice } from './shape.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const batchNormRules = new RuleSet();

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

/** `replicas` > 1: statistics over the global batch of that many replicas, each passing an equal share as `x`. */
export function batchNormTrain(x: Value, gamma: Value, beta: Value, eps = 1e-5, replicas = 1): BatchNormTrainResult {
  const c = checkBn('batchNormTrain', x, gamma, beta);
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`batchNormTrain: replicas must be a positive integer, got ${replicas}`);
  if (replicas > 1 && x.dtype !== 'float32') throw new Error(`batchNormTrain: synchronized statistics are float32, got ${x.dtype}`);
  const attrs = { epsilon: { kind: 'float', value: eps }, replicas: { kind: 'int', value: replicas } } as const;
  const [y, mean, variance] = emit('BatchNormTrain', [x, gamma, beta], attrs, [
    { shape: x.shape, dtype: x.dtype },
    { shape: [c], dtype: x.dtype },
    { shape: [c], dtype: x.dtype },
    { shape: x.shape, dtype: x.dtype }, // x - mean, kept for the backward pass
    { shape: keptShape(x), dtype: x.dtype }, // 1/sqrt(var+eps), kept for the backward pass
  ]);
  return { y: y!, mean: mean!, variance: variance! };
}

export function batchNormEval(x: Value, gamma: Value, beta: Value, runningMean: Value, runningVar: Value, eps = 1e-5): Value {
  checkBn('batchNormEval', x, gamma, beta, runningMean, runningVar);
  return emit1('BatchNormalization', [x, gamma, beta, runningMean, runningVar], { epsilon: { kind: 'float', value: eps } }, x.shape);
}

/** x * scale + bias per channel (axis 1); scale and bias are [C]. One pass over x (ORT's BatchNormalization). */
export function channelAffine(x: Value, scale: Value, bias: Value): Value {
  checkBn('channelAffine', x, scale, bias);
  return emit1('ChannelAffine', [x, scale, bias], {}, x.shape);
}

// A per-channel affine is ONNX BatchNormalization in inference mode with mean 0, variance 1 and epsilon 0: one
// multi-threaded pass where Mul + Add (with the per-channel operands reshaped to broadcast) take two.
batchNormRules.define('ChannelAffine', {
  lower: (node, b) => {
    const [x, scale, bias] = node.inputs as [Value, Value, Value];
    const c = b.ints([x.shape[1]!]);
    const zeros = b.op('Expand', [b.scalar(0, x.dtype), c])[0]!;
    const ones = b.op('Expand', [b.scalar(1, x.dtype), c])[0]!;
    b.op('BatchNormalization', [x.name, scale.name, bias.name, zeros, ones], { epsilon: { kind: 'float', value: 0 } }, [node.outputs[0]!.name]);
  },
  grad: ({ node, dOut: [dy], needs }) => {
    const [x, scale] = node.inputs as [Value, Value];
    const axes = statAxes(x);
    return [
      needs[0] ? mul(dy!, reshape(scale, keptShape(x))) : null,
      needs[1] ? reduceSum(mul(dy!, x), axes, false) : null,
      needs[2] ? reduceSum(dy!, axes, false) : null,
    ];
  },
});

// Forward: the two-pass variance (mean, then the mean of squared deviations: no cancellation in E[x^2] - mean^2),
// and y from ONNX BatchNormalization in inference mode over the centred x with the batch variance, one pass where
// normalising, scaling and shifting took three (make run's [256, 32, 16, 16]: 6.0 against 7.3 ms, per node).
batchNormRules.define('BatchNormTrain', {
  lower: (node, b) => {
    const [x, gamma, beta] = node.inputs as [Value, Value, Value];
    const [y, mean, variance, xc, invstd] = node.outputs.map((v) => v.name) as [string, string, string, string, string];
    const eps = node.attrs['epsilon']!.value as number;
    const replicas = replicasOf(node.attrs);
    const axes = { axes: { kind: 'ints', value: statAxes(x) }, keepdims: { kind: 'int', value: 1 } } as const;
    // Per-replica: ReduceMean. Synchronized: the replicas' ReduceSums added up, over the global element count.
    const globalMean = (v: string): string => {
      if (replicas === 1) return b.op('ReduceMean', [v], axes)[0]!;
      const [local] = b.op('ReduceSum', [v, b.ints(statAxes(x))], { keepdims: { kind: 'int', value: 1 } });
      const [total] = b.op('AllReduceSum', [local!], {}, 1, COLLECTIVES_DOMAIN);
      return b.op('Mul', [total!, b.scalar(1 / (elementsPerChannel(x) * replicas), x.dtype)])[0]!;
    };
    const meanK = globalMean(x.name);
    b.op('Sub', [x.name, meanK], {}, [xc]);
    const varK = globalMean(b.op('Mul', [xc, xc])[0]!);
    const [std] = b.op('Sqrt', b.op('Add', [varK, b.scalar(eps, x.dtype)]));
    b.op('Reciprocal', [std!], {}, [invstd]);
    const flat = b.ints([x.shape[1]!]);
    b.op('Reshape', [meanK, flat], {}, [mean]);
    b.op('Reshape', [varK, flat], {}, [variance]);
    const zeros = b.op('Expand', [b.scalar(0, x.dtype), flat])[0]!;
    b.op('BatchNormalization', [xc, gamma.name, beta.name, zeros, variance], { epsilon: { kind: 'float', value: eps } }, [y]);
  },
  // Closed form, M = elements per channel, xc = x - mean, a = gamma * invstd, sums over every axis but 1:
  //   dbeta = sum(dy), dgamma = invstd * sum(dy * xc)
  //   dx = a * (dy - sum(dy)/M - xc * invstd^2 * sum(dy * xc)/M)  [+ dmean/M + dvar * 2 * xc / M]
  //      = a * dy + (k1 * xc + k0) per channel: one Mul, one channelAffine and one Add over the tensor, where the
  //        expanded form took two Subs and two Muls (8.7 against 7.2 ms on make run's [256, 32, 16, 16], per node).
  // Synchronized: M and the sums in dx are global (one AllReduceSum of the per-channel sums); dgamma and dbeta stay
  // this replica's share, summed with every other parameter gradient after the step.
  grad: ({ node, dOut: [dy, dMean, dVar], needs }) => {
    const [x, gamma] = node.inputs as [Value, Value];
    const xc = node.outputs[3]!;
    const invstd = reshape(node.outputs[4]!, gamma.shape);
    const axes = statAxes(x);
    const replicas = replicasOf(node.attrs);
    const m = elementsPerChannel(x) * replicas;
    const a = mul(gamma, invstd);
    const results: [Value | null, Value | null, Value | null] = [null, null, null];
    const sumDy = dy ? reduceSum(dy, axes, false) : null;
    const sumDyXc = dy ? reduceSum(mul(dy, xc), axes, false) : null;
    if (needs[1] && sumDyXc) results[1] = mul(sumDyXc, invstd);
    if (needs[2] && sumDy) results[2] = sumDy;
    if (!needs[0]) return results;
    // What dx needs from every replica, summed across them when synchronized.
    const [gDy, gDyXc, gMean, gVar] = replicas === 1 ? [sumDy, sumDyXc, dMean ?? null, dVar ?? null] : allReducedTogether([sumDy, sumDyXc, dMean ?? null, dVar ?? null]);
    let k1: Value | null = null;
    let k0: Value | null = null;
    const ax = dy ? mul(dy, reshape(a, keptShape(x))) : null;
    if (gDy && gDyXc) {
      k1 = mul(mul(a, mul(invstd, invstd)), mul(gDyXc, -1 / m));
      k0 = mul(a, mul(gDy, -1 / m));
    }
    if (gMean) k0 = addOrSet(k0, mul(gMean, 1 / m));
    if (gVar) k1 = addOrSet(k1, mul(gVar, 2 / m));
    if (k1 || k0) {
      const affine = channelAffine(xc, k1 ?? x.graph.zeros(gamma.shape, x.dtype), k0 ?? x.graph.zeros(gamma.shape, x.dtype));
      results[0] = ax ? add(ax, affine) : affine;
    }
    return results;
  },
});

function replicasOf(attrs: Node['attrs']): number {
  return (attrs['replicas']?.value as number | undefined) ?? 1;
}

function elementsPerChannel(x: Value): number {
  return x.size / x.shape[1]!;
}

/** The present [C] vectors summed across replicas in one AllReduceSum (null stays null). */
function allReducedTogether(parts: readonly (Value | null)[]): (Value | null)[] {
  const present = parts.filter((p): p is Value => p !== null);
  if (present.length === 0) return parts.map(() => null);
  const c = present[0]!.shape[0]!;
  const total = allReduceSum(present.length === 1 ? present[0]! : concat(present, 0));
  let at = 0;
  return parts.map((p) => {
    if (p === null) return null;
    const part = slice(total, [at * c], [(at + 1) * c], [0]);
    at++;
    return part;
  });
}

function addOrSet(acc: Value | null, v: Value): Value {
  return acc ? add(acc, v) : v;
}

// y = gamma * (x - rm) / sqrt(rv + eps) + beta with running stats as constants:
//   dx = dy * gamma * invstd, dgamma = sum(dy * xhat), dbeta = sum(dy)
batchNormRules.define('BatchNormalization', {
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
