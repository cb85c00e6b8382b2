// Softmax cross entropy for the online linear classifier: logits [N, K], targets one-hot [N, K] (fed as an input).
//   loss = -mean_n sum_k targets[n, k] * log softmax(logits[n])[k]
import type { Value } from '../graph/index.js';
import * as op from '../graph/ops.js';

export function softmaxCrossEntropy(logits: Value, targets: Value): Value {
  if (logits.rank !== 2 || logits.shape.join() !== targets.shape.join()) {
    throw new Error(
      `crossEntropy: logits [${logits.shape.join(', ')}] and one-hot targets [${targets.shape.join(', ')}] ` +
        'must both be [N, K]',
    );
  }
  return op.neg(op.reduceMean(op.reduceSum(op.mul(targets, op.logSoftmax(logits, 1)), [1])));
}

/** Class indices -> one-hot rows [N * K], with a clear error for an index out of range. */
export function oneHot(labels: ArrayLike<number>, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new Error(`oneHot: label ${c} at ${i} is not a class index in [0, ${numClasses})`);
    }
    out[i * numClasses + c] = 1;
  }
  return out;
}

/** Top-k accuracy counts from logits [N * K] (row-major): how many rows have their label among the k largest. */
export function topKCorrect(logits: Float32Array, labels: ArrayLike<number>, numClasses: number, k: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    const target = row[labels[i]];
    let above = 0;
    for (let j = 0; j < numClasses; j++) if (row[j] > target || (row[j] === target && j < labels[i])) above++;
    if (above < k) correct++;
  }
  return correct;
}
