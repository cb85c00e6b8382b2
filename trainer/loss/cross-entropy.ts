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

/**
 * topKCorrect as graph ops, so a step's accuracy leaves the device as one number: logits [N, K], one-hot targets
 * [N, K]. The same rule: a row counts when fewer than k classes score above its label, ties going to the lower index.
 */
export function topKCorrectCount(logits: Value, targets: Value, k: number): Value {
  const [, classes] = logits.shape as [number, number];
  const index = logits.graph.constant(Float32Array.from({ length: classes }, (_v, j) => j), [1, classes]);
  const target = op.reduceSum(op.mul(logits, targets), [1], true);
  const label = op.reduceSum(op.mul(targets, index), [1], true);
  const above = op.add(
    op.cast(op.greater(logits, target), 'float32'),
    op.mul(op.cast(op.equal(logits, target), 'float32'), op.cast(op.less(index, label), 'float32')),
  );
  return op.reduceSum(op.cast(op.less(op.reduceSum(above, [1]), k), 'float32'));
}

