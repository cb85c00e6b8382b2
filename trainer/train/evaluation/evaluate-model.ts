// The per-epoch evaluation, split across replicas: each rank computes the features of its contiguous shard of the
// kNN bank and of the test set; the bank is all-gathered (kNN needs all of it), while the test set stays sharded and
// the ranks sum their correct counts. The final linear probe needs every feature: rank 0 gathers and trains it.
// With one replica the collectives are copies and this is the plain evaluation.
import type { Dataset } from '../../data/index.js';
import type { ProcessGroup } from '../../collectives/index.js';
import type { Engine, ParameterStore } from '../../engine/index.js';
import { shardRange } from '../../data/index.js';
import { classifierAccuracy, knnAccuracy } from './accuracy.js';
import type { EvalForward, Features } from './features.js';
import { DEFAULT_PROBE, linearProbe } from './probe.js';

export interface EvalResult {
  knnTop1: number;
  knnTop5: number;
  top1: number;
  top5: number;
  /** Offline linear probe (final evaluation only; rank 0 only). */
  probeTop1?: number;
  probeTop5?: number;
}

export interface EvalOptions {
  knnK: number;
  /** Rows of the train set used as the kNN bank (default: all). */
  bank?: number;
  probe: boolean;
  seed: number;
}

type Group = Pick<ProcessGroup, 'rank' | 'worldSize' | 'allgather' | 'allreduceSum'>;

/** Every rank's shard of `total` rows, in order (shards are contiguous blocks in rank order, padded for the gather). */
export async function gatherFeatures(local: Features, total: number, group: Group): Promise<Features> {
  if (group.worldSize === 1) return local;
  const per = Math.ceil(total / group.worldSize);
  const k = local.logits === undefined ? 0 : local.logits.length / Math.max(1, local.count);
  const pad = <T extends Float32Array | Int32Array>(a: T, width: number, make: (n: number) => T): T => {
    const out = make(per * width);
    out.set(a.subarray(0, local.count * width));
    return out;
  };
  const [h, labels, logits] = await Promise.all([
    group.allgather(pad(local.h, local.dim, (n) => new Float32Array(n))),
    group.allgather(pad(local.labels, 1, (n) => new Int32Array(n))),
    local.logits === undefined ? undefined : group.allgather(pad(local.logits, k, (n) => new Float32Array(n))),
  ]);
  const out = { h: new Float32Array(total * local.dim), labels: new Int32Array(total), logits: logits && new Float32Array(total * k) };
  for (let r = 0; r < group.worldSize; r++) {
    const [start, end] = shardRange(total, r, group.worldSize);
    const rows = end - start;
    out.h.set(h.subarray(r * per * local.dim, (r * per + rows) * local.dim), start * local.dim);
    out.labels.set(labels.subarray(r * per, r * per + rows), start);
    if (logits && out.logits) out.logits.set(logits.subarray(r * per * k, (r * per + rows) * k), start * k);
  }
  return { h: out.h, dim: local.dim, logits: out.logits, labels: out.labels, count: total };
}

/** kNN on h and the online classifier on the test set (+ the offline probe on rank 0), identical on every rank. */
export async function evaluateModel(
  engine: Engine,
  forward: EvalForward,
  store: ParameterStore,
  train: Dataset,
  test: Dataset,
  group: Group,
  o: EvalOptions,
): Promise<EvalResult> {
  const shard = { rank: group.rank, worldSize: group.worldSize };
  const bank = Math.min(o.bank ?? train.length, train.length);
  const trainF = await gatherFeatures(await forward.features(train, store, bank, shard), bank, group);
  const testF = await forward.features(test, store, test.length, shard);
  const none = { correct1: 0, correct5: 0 }; // an empty shard (more ranks than test images)
  const knn = testF.count === 0 ? none : await knnAccuracy(engine, trainF, testF, { k: o.knnK, temperature: 0.1, numClasses: test.numClasses });
  const online = testF.count === 0 ? none : classifierAccuracy(testF, test.numClasses);
  // Correct counts of this shard, summed over ranks.
  const total = await group.allreduceSum(Float64Array.of(knn.correct1, knn.correct5, online.correct1, online.correct5));
  const n = test.length;
  const result: EvalResult = { knnTop1: total[0] / n, knnTop5: total[1] / n, top1: total[2] / n, top5: total[3] / n };
  if (o.probe) {
    const allTest = await gatherFeatures(testF, n, group);
    if (group.rank === 0) {
      const p = await linearProbe(engine, trainF, allTest, { ...DEFAULT_PROBE, numClasses: test.numClasses, seed: o.seed });
      result.probeTop1 = p.top1;
      result.probeTop5 = p.top5;
    }
  }
  return result;
}
