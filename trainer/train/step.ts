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
// What it shares with the gradient-cache step's programs (the model on both views, gradient and statistic outputs,
// the fp16 loss scale) is built in step-graph.ts.
import type { Engine, Feed, ParameterStore, Program } from '../engine/index.js';
import { Graph, op, type KernelTarget } from '../graph/index.js';
import { ntXentLoss, oneHot, topKCorrect, topKCorrectCount } from '../loss/index.js';
import { updateRunningStats, type ModelConfig, type ParamSpec } from '../models/index.js';
import { clipGradNorm, type OptimParam, type Optimizer } from '../optim/index.js';
import { buildTrainForward, lossScaleFeed, outputGradientsAndStats, scaledSeed, type Precision, type TrainGraph } from './step-graph.js';

/** BatchNorm momentum for the running statistics (PyTorch's default). */
export const BN_MOMENTUM = 0.1;

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
