// Evaluation: an eval-mode program (BatchNorm with running statistics) giving h and the online classifier's logits;
// the kNN monitor (cosine similarity, k neighbours, temperature-weighted voting as in InstDisc, Wu et al. 2018:
// each neighbour votes exp(sim / T) for its class); the online classifier's top-1/top-5. The offline linear probe is
// probe.ts.
import type { Engine, ParameterStore, Program } from '../engine/index.js';
import { Graph, op, type ForwardMethod } from '../graph/index.js';
import { evalBatches, shardRange, type Dataset } from '../data/index.js';
import { topKCorrect } from '../loss/index.js';
import { buildSimclrModel, representationSize, type ModelConfig } from '../models/index.js';

export interface Features {
  /** [N, D] row-major. */
  readonly h: Float32Array;
  readonly dim: number;
  /** [N, K] online-classifier logits (absent for raw pixels). */
  readonly logits?: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

export class EvalForward {
  private constructor(
    private readonly engine: Engine,
    private readonly graph: Graph,
    private readonly outputs: readonly string[],
    readonly batchSize: number,
    readonly dim: number,
    readonly numClasses: number,
    readonly height: number,
    readonly width: number,
  ) {}

  /**
   * The eval-mode graph (ONNX Convs by default: with the weights fixed they run as fast as the Gather + GEMM form or
   * faster, 225-302 against 280-308 ms per batch of 256 at 24 px, width 1/2, bench/eval-forward.ts; so the program is
   * the exported encoder plus the classifier).
   */
  static create(
    engine: Engine,
    o: { model: ModelConfig; batchSize: number; height: number; width: number; convForward?: ForwardMethod | 'auto' },
  ): EvalForward {
    const g = new Graph(`simclr_eval_b${o.batchSize}`, engine.provider);
    const x = g.input('x', [o.batchSize, o.model.inputChannels, o.height, o.width]);
    const built = buildSimclrModel(g, x, o.model, 'eval', o.convForward ?? 'conv');
    g.output('h', built.outputs.h);
    const outputs = ['h'];
    if (built.outputs.logits) {
      g.output('logits', built.outputs.logits);
      outputs.push('logits');
    }
    return new EvalForward(engine, g, outputs, o.batchSize, representationSize(o.model), o.model.numClasses, o.height, o.width);
  }

  /**
   * h and logits of the first `limit` images of `ds` (no augmentation), batches padded to the compiled size; with
   * `shard`, only that rank's contiguous block of them (shardRange), in order. Each call compiles the graph with the
   * store's current weights and statistics as constants: ORT then folds BatchNorm into the Convs and runs them in its
   * blocked NCHWc layout, which it does only for constant weights (1.7-3.0x the images/s of weights fed as inputs,
   * for ~0.1 s of compiling).
   */
  async features(ds: Dataset, store: ParameterStore, limit = ds.length, shard?: Shard): Promise<Features> {
    const program = await this.engine.compile(this.graph, { outputs: this.outputs, fixedInputs: (name) => store.get(name)?.data });
    try {
      return await this.run(program, ds, store, limit, shard);
    } finally {
      await program.release();
    }
  }

  private async run(program: Program, ds: Dataset, store: ParameterStore, limit: number, shard?: Shard): Promise<Features> {
    const source = firstImages(ds, limit);
    const [start, end] = shard === undefined ? [0, source.length] : shardRange(source.length, shard.rank, shard.worldSize);
    const n = end - start;
    const h = new Float32Array(n * this.dim);
    const logits = new Float32Array(n * this.numClasses);
    const labels = new Int32Array(n);
    const per = ds.channels * this.height * this.width;
    const x = new Float32Array(this.batchSize * per);
    let row = 0;
    const batches = evalBatches(source, { batchSize: this.batchSize, outHeight: this.height, outWidth: this.width, ...shard });
    for await (const b of batches) {
      const take = Math.min(b.labels.length, n - row);
      if (take <= 0) break;
      x.fill(0);
      x.set(b.images.subarray(0, take * per));
      const out = await program.run({ x }, store); // params the store lacked stay inputs
      h.set(out.h.subarray(0, take * this.dim), row * this.dim);
      if (out.logits) logits.set(out.logits.subarray(0, take * this.numClasses), row * this.numClasses);
      labels.set(b.labels.subarray(0, take), row);
      row += take;
    }
    return { h, dim: this.dim, logits, labels, count: n };
  }
}

export interface Shard {
  rank: number;
  worldSize: number;
}

/** The first n images of ds, as a data set of its own. */
function firstImages(ds: Dataset, n: number): Dataset {
  if (n >= ds.length) return ds;
  return {
    name: ds.name,
    split: ds.split,
    length: n,
    channels: ds.channels,
    height: ds.height,
    width: ds.width,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    normalization: ds.normalization,
    label: (i) => ds.label(i),
    get: (i) => ds.get(i),
  };
}

/** Raw normalised pixels of `ds` as features (the raw-pixel baseline). */
export async function pixelFeatures(ds: Dataset, limit = ds.length, height = ds.height, width = ds.width): Promise<Features> {
  const n = Math.min(limit, ds.length);
  const dim = ds.channels * height * width;
  const h = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  let row = 0;
  for await (const b of evalBatches(ds, { batchSize: 1000, outHeight: height, outWidth: width })) {
    const take = Math.min(b.labels.length, n - row);
    if (take <= 0) break;
    h.set(b.images.subarray(0, take * dim), row * dim);
    labels.set(b.labels.subarray(0, take), row);
    row += take;
  }
  return { h, dim, labels, count: n };
}

/**
 * Top-1/top-5 over `count` queries, as correct counts (what shards of a test set sum across ranks) and as the
 * fractions of `count` they make.
 */
export interface TopKAccuracy {
  readonly count: number;
  readonly correct1: number;
  readonly correct5: number;
  readonly top1: number;
  readonly top5: number;
}

export function topKAccuracy(count: number, correct1: number, correct5: number): TopKAccuracy {
  return { count, correct1, correct5, top1: correct1 / count, top5: correct5 / count };
}

/** Top-1/top-5 of the online classifier's logits. */
export function classifierAccuracy(f: Features, numClasses: number): TopKAccuracy {
  if (!f.logits) throw new Error('classifierAccuracy: features have no logits');
  return topKAccuracy(
    f.count,
    topKCorrect(f.logits, f.labels, numClasses, 1),
    topKCorrect(f.logits, f.labels, numClasses, Math.min(5, numClasses)),
  );
}

/** Each row of `dim` values scaled to unit length (rows of zeros stay zero): the kNN's cosine similarity. */
export function l2NormalizeRows(a: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < a.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += a[r * dim + j] ** 2;
    const inv = 1 / Math.sqrt(s + 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = a[r * dim + j] * inv;
  }
  return out;
}

export interface KnnOptions {
  k: number;
  /** Voting temperature: weight exp(sim / T). */
  temperature: number;
  numClasses: number;
  /** Query rows per similarity MatMul. */
  chunk?: number;
}

/**
 * kNN top-1/top-5 of `test` against the bank `train`: per chunk of queries one ORT program takes the cosine
 * similarities (a MatMul against the bank) and the k most similar bank rows (TopK), so only [chunk, k] values and
 * indices come back to JS, not [chunk, bank] similarities; votes exp(sim / T) summed per class. (make run's final kNN,
 * 10,000 queries against 60,000 256-d rows: 3.2x faster than a JS heap over the similarities, bench/knn.ts.)
 */
export async function knnAccuracy(
  engine: Engine,
  train: Features,
  test: Features,
  o: KnnOptions,
): Promise<TopKAccuracy> {
  const dim = train.dim;
  const k = Math.min(o.k, train.count);
  const bank = l2NormalizeRows(train.h.subarray(0, train.count * dim), dim);
  const queries = l2NormalizeRows(test.h.subarray(0, test.count * dim), dim);
  const chunk = Math.min(o.chunk ?? 256, test.count);
  const g = new Graph('knn_neighbours', engine.provider);
  const q = g.input('q', [chunk, dim]);
  const b = g.input('bank', [train.count, dim]);
  const nearest = op.topK(op.matmul(q, op.transpose(b, [1, 0])), k);
  g.output('sim', nearest.values);
  g.output('idx', nearest.indices);
  const program = await engine.compile(g);
  const votes = new Float64Array(o.numClasses);
  const scores = new Float32Array(o.numClasses);
  const qbuf = new Float32Array(chunk * dim);
  let top1 = 0;
  let top5 = 0;
  try {
    for (let first = 0; first < test.count; first += chunk) {
      const take = Math.min(chunk, test.count - first);
      qbuf.fill(0);
      qbuf.set(queries.subarray(first * dim, (first + take) * dim));
      const out = await program.runRaw({ q: qbuf, bank });
      const sim = out['sim']!.data as Float32Array;
      const idx = out['idx']!.data as BigInt64Array;
      for (let r = 0; r < take; r++) {
        votes.fill(0);
        for (let j = r * k; j < (r + 1) * k; j++) votes[train.labels[Number(idx[j])]] += Math.exp(sim[j] / o.temperature);
        for (let c = 0; c < o.numClasses; c++) scores[c] = votes[c];
        const label = test.labels[first + r];
        top1 += topKCorrect(scores, [label], o.numClasses, 1);
        top5 += topKCorrect(scores, [label], o.numClasses, Math.min(5, o.numClasses));
      }
    }
  } finally {
    await program.release();
  }
  return topKAccuracy(test.count, top1, top5);
}

