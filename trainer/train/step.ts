// One fused SimCLR training program per batch size, and the host-side update that follows it.
//
// Graph (one ORT session): view1, view2 [B, C, H, W] and one-hot labels [B, K] in;
//   x = concat(view1, view2) [2B, C, H, W] goes through the encoder ONCE, so BatchNorm normalises both views with
//   the same batch statistics (as the common SimCLR implementations that concatenate the views do);
//   NT-Xent on z (rows i and i + B are the positive pair); the online classifier sees stopGradient(h) of both views
//   (labels repeated), so its cross entropy trains only the classifier.
// Outputs: loss (NT-Xent + classifier CE), nce, ce, logits [2B, K], correct1 / correct5 (the classifier's top-1 / top-5
// hits on the view-1 rows), grad/<param> for every trainable parameter and bnstat/<bn>.mean|var for every train-mode
// BatchNorm.
// Two ways to run it: run() brings every output to the host for applyUpdate (clip, the JS optimizer, running stats);
// runOnDevice() keeps gradients and statistics in the provider's memory for DeviceUpdate and returns only scalars.
import type { Engine, Feed, ParameterStore, Program } from '../engine/index.js';
import { Graph, gradients, op, type GradientSeeds, type KernelTarget, type Value } from '../graph/index.js';
import { ntXentLoss, oneHot, softmaxCrossEntropy, topKCorrect, topKCorrectCount } from '../loss/index.js';
import { buildSimclrModel, updateRunningStats, type ModelBuild, type ModelConfig, type ParamSpec } from '../models/index.js';
import { clipGradNorm, type OptimParam, type Optimizer } from '../optim/index.js';

/** BatchNorm momentum for the running statistics (PyTorch's default). */
export const BN_MOMENTUM = 0.1;

/** Compute precision of the training programs: fp16 computes the model in float16 (mixed precision, layers.ts). */
export type Precision = 'fp32' | 'fp16';

/**
 * fp16 programs' scalar input: the loss scale their backward is seeded with, so small float16 gradients do not flush
 * to zero; their grad/<p> outputs are scaled by it (the update divides it out, loss-scale.ts).
 */
export const LOSS_SCALE_INPUT = 'loss_scale';

export interface TrainStepOptions {
  model: ModelConfig;
  /** Local batch size B (images per view). */
  batchSize: number;
  height: number;
  width: number;
  temperature: number;
  /** Default fp32. */
  precision?: Precision;
}

export interface StepResult {
  loss: number;
  nce: number;
  ce: number;
  /** [2B, K]: view 1 rows first. */
  logits: Float32Array;
  grads: Map<string, Float32Array>;
  /** BN name -> batch mean / biased variance, and the element count per channel behind them. */
  bnStats: Map<string, { mean: Float32Array; variance: Float32Array; count: number }>;
}

/** A step as the update consumes it: scalars on the host, gradients and statistics wherever they are. */
export interface StepOutcome {
  loss: number;
  nce: number;
  ce: number;
  /** The online classifier's top-1 / top-5 hits on the batch's first views. */
  correct1: number;
  correct5: number;
  /** grad/<param> and bnstat/<bn>.mean|var, for Update.run (trainer/train/update.ts). */
  outputs: Record<string, Feed>;
}

export interface StepBatch {
  view1: Float32Array;
  view2: Float32Array;
  labels: ArrayLike<number>;
}

export class TrainStep {
  private constructor(
    readonly opts: TrainStepOptions,
    readonly program: Program,
    /** Every parameter and buffer spec of the model. */
    readonly specs: readonly ParamSpec[],
    readonly bnCounts: ReadonlyMap<string, number>,
  ) {}

  static async compile(engine: Engine, opts: TrainStepOptions): Promise<TrainStep> {
    const { graph, specs, bnCounts } = buildTrainGraph(opts, engine.provider);
    const program = await engine.compile(graph);
    return new TrainStep(opts, program, specs, bnCounts);
  }

  get trainable(): ParamSpec[] {
    return this.specs.filter((s) => !s.isBuffer);
  }

  /** Per BatchNorm, the element count behind the statistics a step returns. */
  get statCounts(): ReadonlyMap<string, number> {
    return this.bnCounts;
  }

  /** Forward + backward on one batch; parameters come from `store` by name. fp16: gradients are x `lossScale`. */
  async run(batch: StepBatch, store: ParameterStore, lossScale = 1): Promise<StepResult> {
    const k = this.opts.model.numClasses;
    const out = await this.program.run(
      { view1: batch.view1, view2: batch.view2, targets: oneHot(batch.labels, k), ...lossScaleFeed(this.opts, lossScale) },
      store,
    );
    const grads = new Map<string, Float32Array>();
    for (const s of this.trainable) grads.set(s.name, out[`grad/${s.name}`]);
    const bnStats = new Map<string, { mean: Float32Array; variance: Float32Array; count: number }>();
    for (const [name, count] of this.bnCounts) {
      bnStats.set(name, { mean: out[`bnstat/${name}.mean`], variance: out[`bnstat/${name}.var`], count });
    }
    return { loss: out.loss[0], nce: out.nce[0], ce: out.ce[0], logits: out.logits, grads, bnStats };
  }

  /** Forward + backward with gradients and statistics kept in the provider's memory; scalars come back. */
  async runOnDevice(batch: StepBatch, store: ParameterStore, lossScale = 1): Promise<StepOutcome> {
    const k = this.opts.model.numClasses;
    const keep = [...this.trainable.map((s) => `grad/${s.name}`), ...[...this.bnCounts.keys()].flatMap((n) => [`bnstat/${n}.mean`, `bnstat/${n}.var`])];
    const { kept, fetched } = await this.program.runDevice(
      { view1: batch.view1, view2: batch.view2, targets: oneHot(batch.labels, k), ...lossScaleFeed(this.opts, lossScale) },
      store,
      { keep, fetch: ['loss', 'nce', 'ce', 'correct1', 'correct5'] },
    );
    const scalar = (name: string): number => Number(fetched[name]!.data[0]);
    return {
      loss: scalar('loss'),
      nce: scalar('nce'),
      ce: scalar('ce'),
      correct1: scalar('correct1'),
      correct5: scalar('correct5'),
      outputs: kept,
    };
  }

  async release(): Promise<void> {
    await this.program.release();
  }
}

/** A training program's graph, its parameter specs and the element count behind each BatchNorm's statistics. */
export interface TrainGraph {
  graph: Graph;
  specs: readonly ParamSpec[];
  bnCounts: Map<string, number>;
}

/** The feed of an fp16 program's loss scale (none for fp32 programs, which have no such input). */
export function lossScaleFeed(opts: { precision?: Precision }, lossScale: number): Record<string, Float32Array> {
  if (opts.precision === 'fp16') return { [LOSS_SCALE_INPUT]: Float32Array.of(lossScale) };
  if (lossScale !== 1) throw new Error(`loss scale ${lossScale}: only fp16 programs are loss-scaled`);
  return {};
}

/**
 * Inputs view1, view2 [n, C, H, W] (float32); returns them concatenated [2n, C, H, W] (one BN batch for both views),
 * in float16 for an fp16 program (the model computes in its input's dtype).
 */
export function viewPairInput(g: Graph, model: ModelConfig, n: number, height: number, width: number, precision: Precision = 'fp32'): Value {
  const c = model.inputChannels;
  const x = op.concat([g.input('view1', [n, c, height, width]), g.input('view2', [n, c, height, width])], 0);
  return precision === 'fp16' ? op.cast(x, 'float16') : x;
}

/** The backward's seed for `loss`: 1, or an fp16 program's loss-scale input. */
export function scaledSeed(g: Graph, precision: Precision = 'fp32'): Value {
  return precision === 'fp16' ? g.input(LOSS_SCALE_INPUT, []) : g.scalar(1);
}

/**
 * What every training program shares: the model in train mode on both views of n images, and the online classifier's
 * cross entropy against the one-hot input `targets` [n, K] (repeated for the second view).
 */
export function buildTrainForward(
  g: Graph,
  model: ModelConfig,
  n: number,
  height: number,
  width: number,
  precision: Precision = 'fp32',
): { built: ModelBuild; logits: Value; ce: Value } {
  if (model.numClasses < 1) throw new Error('train step: the online classifier needs numClasses >= 1');
  const x = viewPairInput(g, model, n, height, width, precision);
  const targets = g.input('targets', [n, model.numClasses]);
  const built = buildSimclrModel(g, x, model, 'train');
  const logits = built.outputs.logits as Value;
  const ce = softmaxCrossEntropy(logits, op.concat([targets, targets], 0));
  return { built, logits, ce };
}

/** Outputs grad/<param> of `target` for every trainable parameter and bnstat/<bn>.mean|var for every BatchNorm. */
/** `accumulate`: each grad/<param> is added to an input acc/grad/<param> (a running sum kept on the device). */
export function outputGradientsAndStats(g: Graph, built: ModelBuild, target: Value | GradientSeeds, accumulate = false): TrainGraph {
  const byName = new Map<string, Value>(g.params.map((v) => [v.name, v]));
  const trainable = built.params.filter((s) => !s.isBuffer);
  const grads = gradients(
    target,
    trainable.map((s) => {
      const v = byName.get(s.name);
      if (v === undefined) throw new Error(`train step: parameter ${s.name} is not in the graph`);
      return v;
    }),
  );
  trainable.forEach((s, i) => {
    const grad = grads[i]!;
    g.output(`grad/${s.name}`, accumulate ? op.add(g.input(`acc/grad/${s.name}`, s.shape), grad) : grad);
  });
  const bnCounts = new Map<string, number>();
  for (const st of built.bnStats) {
    g.output(`bnstat/${st.name}.mean`, st.mean);
    g.output(`bnstat/${st.name}.var`, st.variance);
    bnCounts.set(st.name, st.count);
  }
  return { graph: g, specs: built.params, bnCounts };
}

export function buildTrainGraph(opts: TrainStepOptions, target: KernelTarget = 'cpu'): TrainGraph {
  const g = new Graph(`simclr_train_b${opts.batchSize}`, target);
  const { built, logits, ce } = buildTrainForward(g, opts.model, opts.batchSize, opts.height, opts.width, opts.precision);
  const nce = ntXentLoss(built.outputs.z, opts.temperature);
  const total = op.add(nce, ce);
  g.output('loss', total);
  g.output('nce', nce);
  g.output('ce', ce);
  g.output('logits', logits);
  // The batch's first views: logits rows [0, B) against the fed one-hot targets.
  const firstViews = op.slice(logits, [0], [opts.batchSize], [0]);
  const targets = g.inputs.find((v) => v.name === 'targets')!;
  g.output('correct1', topKCorrectCount(firstViews, targets, 1));
  g.output('correct5', topKCorrectCount(firstViews, targets, Math.min(5, opts.model.numClasses)));
  const seed = opts.precision === 'fp16' ? { seeds: [[total, scaledSeed(g, 'fp16')] as const] } : total;
  return outputGradientsAndStats(g, built, seed);
}

/** The optimizer's view of the trainable parameters (the store's arrays, updated in place). */
export function optimParams(specs: readonly ParamSpec[], store: ParameterStore): OptimParam[] {
  return specs
    .filter((s) => !s.isBuffer)
    .map((s) => ({ name: s.name, data: store.require(s.name).data, isOneD: s.isOneD }));
}

export interface UpdateOptions {
  lr: number;
  /** Global-norm clip (0 = off). */
  clip: number;
  bnMomentum?: number;
}

/** Clip, optimizer step, running statistics. Returns the gradient norm before clipping. */
export function applyUpdate(
  result: Pick<StepResult, 'grads' | 'bnStats'>,
  specs: readonly ParamSpec[],
  store: ParameterStore,
  optimizer: Optimizer,
  o: UpdateOptions,
): number {
  let norm = NaN;
  if (o.clip > 0) norm = clipGradNorm(result.grads.values(), o.clip);
  optimizer.step(optimParams(specs, store), result.grads, o.lr);
  for (const [name, st] of result.bnStats) {
    const mean = store.get(`${name}.running_mean`);
    const variance = store.get(`${name}.running_var`);
    if (mean === undefined || variance === undefined) throw new Error(`train step: no running statistics for ${name}`);
    updateRunningStats({ mean: mean.data, variance: variance.data }, st, st.count, o.bnMomentum ?? BN_MOMENTUM);
  }
  return norm;
}

/** A step whose outputs came to the host, as the update consumes it (the accuracy counted from its logits). */
export function hostOutcome(r: StepResult, labels: ArrayLike<number>, numClasses: number): StepOutcome {
  const outputs: Record<string, Feed> = {};
  for (const [name, g] of r.grads) outputs[`grad/${name}`] = g;
  for (const [name, st] of r.bnStats) {
    outputs[`bnstat/${name}.mean`] = st.mean;
    outputs[`bnstat/${name}.var`] = st.variance;
  }
  // The online classifier on the batch's first views (the logits' first rows), as the seed reports it.
  const correct1 = topKCorrect(r.logits, labels, numClasses, 1);
  const correct5 = topKCorrect(r.logits, labels, numClasses, Math.min(5, numClasses));
  return { loss: r.loss, nce: r.nce, ce: r.ce, correct1, correct5, outputs };
}
