// kNN monitor: knnAccuracy (one ORT program per query chunk: MatMul against the bank, then TopK, so [chunk, k]
// values and indices come back) against the form it replaced, which took the [chunk, bank] similarities back to JS
// and kept the k largest per query in a binary min-heap. Alternating runs on the same features; both must give the
// same counts.
// Usage: npx tsx bench/knn.ts [--bank 60000] [--queries 10000] [--dim 256] [--k 200] [--threads 2] [--reps 2]
//   (defaults: make run's final kNN)
import { parseArgs } from 'node:util';
import { Engine } from '../trainer/engine/index.js';
import { Graph, op } from '../trainer/graph/index.js';
import { Rng } from '../trainer/data/index.js';
import { topKCorrect } from '../trainer/loss/index.js';
import { knnAccuracy, l2NormalizeRows, type KnnOptions } from '../trainer/train/evaluation/accuracy.js';
import type { Features } from '../trainer/train/evaluation/features.js';

const { values } = parseArgs({
  options: {
    bank: { type: 'string', default: '60000' },
    queries: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '256' },
    k: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '2' },
  },
});
const [dim, reps] = [Number(values.dim), Number(values.reps)];
const rng = Rng.fromSeed(1);
const features = (count: number): Features => ({
  h: Float32Array.from({ length: count * dim }, () => rng.uniform(-1, 1)),
  dim,
  labels: Int32Array.from({ length: count }, () => Math.floor(rng.uniform(0, 10))),
  count,
});
const bank = features(Number(values.bank));
const queries = features(Number(values.queries));
const o: KnnOptions = { k: Number(values.k), temperature: 0.1, numClasses: 10 };
const engine = await Engine.create({ threads: Number(values.threads), spinning: false });

/** The replaced form: similarities back to JS, a min-heap per query. */
async function knnJsHeap(train: Features, test: Features): Promise<[number, number]> {
  const b = l2NormalizeRows(train.h.subarray(0, train.count * dim), dim);
  const q = l2NormalizeRows(test.h.subarray(0, test.count * dim), dim);
  const chunk = Math.min(256, test.count);
  const g = new Graph('knn_similarity');
  g.output('sim', op.matmul(g.input('q', [chunk, dim]), op.transpose(g.input('bank', [train.count, dim]), [1, 0])));
  const program = await engine.compile(g);
  const vals = new Float32Array(o.k);
  const idx = new Int32Array(o.k);
  const votes = new Float32Array(o.numClasses);
  const qbuf = new Float32Array(chunk * dim);
  let [top1, top5] = [0, 0];
  for (let first = 0; first < test.count; first += chunk) {
    const take = Math.min(chunk, test.count - first);
    qbuf.fill(0);
    qbuf.set(q.subarray(first * dim, (first + take) * dim));
    const { sim } = await program.run({ q: qbuf, bank: b });
    for (let r = 0; r < take; r++) {
      heapTopK(sim!.subarray(r * train.count, (r + 1) * train.count), vals, idx);
      votes.fill(0);
      for (let j = 0; j < o.k; j++) votes[train.labels[idx[j]!]!] += Math.exp(vals[j]! / o.temperature);
      top1 += topKCorrect(votes, [test.labels[first + r]!], o.numClasses, 1);
      top5 += topKCorrect(votes, [test.labels[first + r]!], o.numClasses, 5);
    }
  }
  await program.release();
  return [top1, top5];
}

function heapTopK(row: Float32Array, vals: Float32Array, idx: Int32Array): void {
  const k = vals.length;
  const swap = (a: number, b: number): void => {
    [vals[a], vals[b]] = [vals[b]!, vals[a]!];
    [idx[a], idx[b]] = [idx[b]!, idx[a]!];
  };
  let size = 0;
  for (let j = 0; j < row.length; j++) {
    const v = row[j]!;
    if (size < k) {
      let i = size++;
      vals[i] = v;
      idx[i] = j;
      for (let p = (i - 1) >> 1; i > 0 && vals[p]! > vals[i]!; i = p, p = (i - 1) >> 1) swap(i, p);
    } else if (v > vals[0]!) {
      vals[0] = v;
      idx[0] = j;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        let m = i;
        if (l < k && vals[l]! < vals[m]!) m = l;
        if (l + 1 < k && vals[l + 1]! < vals[m]!) m = l + 1;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
  }
}

console.log(`kNN: ${queries.count} queries x ${bank.count} bank rows, ${dim}-d, k=${o.k}, ${values.threads} threads; alternating`);
const times: Record<string, number[]> = { 'MatMul + TopK in ORT (knnAccuracy)': [], 'similarities to JS + min-heap (before)': [] };
let counts: string | undefined;
for (let r = 0; r < reps; r++) {
  for (const [label, run] of [
    ['MatMul + TopK in ORT (knnAccuracy)', async () => { const a = await knnAccuracy(engine, bank, queries, o); return [a.correct1, a.correct5]; }],
    ['similarities to JS + min-heap (before)', () => knnJsHeap(bank, queries)],
  ] as const) {
    const t0 = performance.now();
    const got = (await run()).join('/');
    times[label]!.push(performance.now() - t0);
    if (counts !== undefined && got !== counts) throw new Error(`kNN counts differ: ${got} against ${counts}`);
    counts = got;
  }
}
const [ref] = Object.values(times).slice(1).map((t) => Math.min(...t));
for (const [label, t] of Object.entries(times)) {
  console.log(`  ${label.padEnd(40)} ${t.map((x) => (x / 1000).toFixed(2)).join(' / ')} s  (best ${(ref! / Math.min(...t)).toFixed(2)}x the JS heap's speed)`);
}
console.log(`  top-1 / top-5 correct: ${counts} of ${queries.count} (same for both)`);
