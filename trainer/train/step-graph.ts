// What every training program builds on, the fused step's (step.ts) and the gradient-cache step's chunk
// (gradient-cache.ts): both views of a batch as one input, the model in train mode with the online classifier's cross
// entropy, grad/<param> and bnstat/<bn>.mean|var outputs, and the fp16 programs' loss-scale input and seed.
import { Graph, gradients, op, type GradientSeeds, type Value } from '../graph/index.js';
import { softmaxCrossEntropy } from '../loss/index.js';
import { buildSimclrModel, type ModelBuild, type ModelConfig, type ParamSpec } from '../models/index.js';

/** Compute precision of the training programs: fp16 computes the model in float16 (mixed precision, layers.ts). */
export type Precision = 'fp32' | 'fp16';

/**
 * fp16 programs' scalar input: the loss scale their backward is seeded with, so small float16 gradients do not flush
 * to zero; their grad/<p> outputs are scaled by it (the update divides it out, loss-scale.ts).
 */
export const LOSS_SCALE_INPUT = 'loss_scale';

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
