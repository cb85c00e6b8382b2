// The features evaluation measures: an eval-mode program (BatchNorm with running statistics) giving the
// representation h and the online classifier's logits, a shard of a data set at a time; and raw normalised pixels (the
// baseline's features). What is computed from them: accuracy.ts (kNN, online classifier), probe.ts (linear probe).
import type { Engine, ParameterStore, Program } from '../../engine/index.js';
import { Graph, type ForwardMethod } from '../../graph/index.js';
import { evalBatches, shardRange, type Dataset } from '../../data/index.js';
import { buildSimclrModel, representationSize, type ModelConfig } from '../../models/index.js';

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
