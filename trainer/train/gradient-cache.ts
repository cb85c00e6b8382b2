// The gradient-cache step (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited
// Setup"): exact NT-Xent over the GLOBAL batch of every replica, with activation memory bounded by one chunk.
//
//   1. encode: each local chunk of c images (both views, 2c rows) runs forward only; activations are dropped.
//   2. allgather the embeddings z: every rank holds the global z [M, D], M = 2 x global batch, in the order
//      [rank 0 chunk 0 (view 1; view 2), rank 0 chunk 1, ..., rank 1 chunk 0, ...].
//   3. loss: each rank differentiates the loss terms of ITS OWN anchors (one block per chunk, ntXentBlockSum) w.r.t.
//      the whole global z, and the ranks sum those partial gradients (allreduce): every rank then holds dL/dz for its
//      rows, including what its rows received as other ranks' negatives. The loss's O(M^2 D) work is split, not
//      repeated.
//   4. each chunk runs forward again + backward, seeded with its slice of dL/dz (and the online classifier's cross
//      entropy weighted by its share of the global batch); parameter gradients add up over chunks.
//   5. allreduce-sum the gradients (each rank holds the partial derivative of the one global loss through its own
//      rows, so the sum is the exact gradient) with the BatchNorm statistics, then every rank runs the same update.
//
// With one chunk per replica (the local batch whole), steps 1 and 4 share one forward pass: the chunk graph is split
// into a forward program, which keeps the activations the backward needs in the provider's memory and returns z, and a
// backward program seeded with dz that reads them (toOnnx's `cut`); the forward is not run twice.
//
// BatchNorm normalises each chunk with that chunk's statistics (like per-GPU BN in the reference implementation); the
// running statistics are updated with the statistics pooled over every chunk of every rank, so all ranks keep
// identical buffers. With one rank and one chunk this computes what TrainStep computes (tested).
import { ParameterStore, moveToDevice, moveToHost, type DeviceTensor, type Engine, type Feed, type Program, type RunOutputs } from '../engine/index.js';
import { Graph, gradients, liveNodes, op, sizeOf, type KernelTarget, type Value } from '../graph/index.js';
import { ntXentBlockSum, oneHot, topKCorrect } from '../loss/index.js';
import { buildSimclrModel, type ParamSpec } from '../models/index.js';
import type { StepBatch, StepOutcome, StepResult, TrainStepOptions } from './step.js';
import { buildTrainForward, lossScaleFeed, outputGradientsAndStats, scaledSeed, viewPairInput, type TrainGraph } from './step-graph.js';

/** What the step needs from a process group (ProcessGroup, or one rank alone). */
export interface Collectives {
  readonly rank: number;
  readonly worldSize: number;
  allreduceSum<T extends Float32Array | Float64Array>(data: T): Promise<T>;
  allgather<T extends Float32Array>(data: T): Promise<T>;
  /** Sums tensors in the provider's memory across ranks in place (NCCL on CUDA); absent: through the host. */
  allreduceSumOnDevice?(tensors: readonly DeviceTensor[]): Promise<void>;
}

export interface GradientCacheOptions extends TrainStepOptions {
  /** Images per view in one forward+backward chunk; divides batchSize (the local batch). */
  chunk: number;
  worldSize: number;
  /** Sum the chunks' gradients in the provider's memory (runOnDevice) instead of on the host (run). */
  accumulateOnDevice?: boolean;
}

type BnStats = StepResult['bnStats'];

/**
 * How a step's chunks reach their gradients. recompute: a forward-only encode pass for z, then forward + backward
 * again (activations bounded by one chunk). keep (one chunk): the forward once, its activations kept for the backward.
 */
type ChunkPrograms =
  | { kind: 'recompute'; encode: Program; chunkStep: Program }
  | { kind: 'keep'; forward: Program; backward: Program; saved: readonly string[] };

/** Outputs of the chunk's forward that the step reads besides z. */
const FORWARD_OUTPUTS = ['ce', 'logits'] as const;

export class GradientCacheStep {
  private constructor(
    readonly opts: GradientCacheOptions,
    private readonly programs: ChunkPrograms,
    private readonly lossBlock: Program,
    readonly specs: readonly ParamSpec[],
    private readonly bnCounts: ReadonlyMap<string, number>,
    private readonly zDim: number,
    private readonly blockImages: number,
    private readonly accumulator: DeviceAccumulator | undefined,
  ) {}

  static async compile(engine: Engine, opts: GradientCacheOptions): Promise<GradientCacheStep> {
    const { batchSize: b, chunk: c, worldSize } = opts;
    if (!Number.isInteger(c) || c < 1 || b % c !== 0) {
      throw new Error(`gradient cache: chunk ${c} must divide the local batch ${b}`);
    }
    const step = buildChunkGraph(opts, engine.provider);
    const zDim = opts.model.nceSize;
    const m = 2 * b * worldSize;
    const blockImages = lossBlockImages(c, m);
    const loss = buildLossBlockGraph(m, zDim, 2 * blockImages, opts.temperature, engine.provider);
    // Chunking is asked for to bound memory: then the three sessions give their buffers back after every run instead
    // of each keeping its peak in ORT's arena, so a step peaks at about one chunk's forward + backward. Measured: 1.25x
    // the RSS of a plain step on the chunk alone, and a 10-25% slower step than with arenas (bench/README.md).
    const memoryArena = c === b;
    const [programs, lossBlock] = await Promise.all([
      c === b ? compileKeep(engine, step) : compileRecompute(engine, opts, step, memoryArena),
      engine.compile(loss, { memoryArena }),
    ]);
    const accumulator = opts.accumulateOnDevice ? await DeviceAccumulator.create(engine, step.specs) : undefined;
    return new GradientCacheStep(opts, programs, lossBlock, step.specs, step.bnCounts, zDim, blockImages, accumulator);
  }

  get trainable(): ParamSpec[] {
    return this.specs.filter((s) => !s.isBuffer);
  }

  /** Per BatchNorm, the element count behind the pooled statistics a step returns (every chunk of every rank). */
  get statCounts(): ReadonlyMap<string, number> {
    const chunks = (this.opts.batchSize / this.opts.chunk) * this.opts.worldSize;
    return new Map([...this.bnCounts].map(([name, count]) => [name, count * chunks]));
  }

  /** One exact global step's gradients (identical on every rank afterwards) on the host; the caller applies the update. */
  async run(batch: StepBatch, store: ParameterStore, group: Collectives, lossScale = 1): Promise<StepResult> {
    if (this.accumulator !== undefined) throw new Error('gradient cache: compiled to accumulate on the device: use runOnDevice');
    const trainable = this.trainable;
    const grads = new Float32Array(trainable.reduce((a, s) => a + sizeOf(s.shape), 0));
    const common = await this.chunks(batch, store, group, lossScale, async (run) => {
      const { fetched } = await run({}, { fetch: trainable.map((s) => `grad/${s.name}`) });
      let at = 0;
      for (const s of trainable) {
        const gChunk = fetched[`grad/${s.name}`]!.data as Float32Array;
        for (let j = 0; j < gChunk.length; j++) grads[at + j] += gChunk[j];
        at += gChunk.length;
      }
    });
    // 5: one reduction for the gradients (the statistics had theirs).
    const totalGrads = await group.allreduceSum(grads);
    const gradMap = new Map<string, Float32Array>();
    let at = 0;
    for (const s of trainable) {
      const n = sizeOf(s.shape);
      gradMap.set(s.name, totalGrads.subarray(at, at + n));
      at += n;
    }
    return { ...common, loss: common.nce + common.ce, grads: gradMap };
  }

  /**
   * The same step with the gradients summed over chunks in the provider's memory (each chunk's program adds its
   * gradient to the running sum it is fed): they leave the device once per step, for the collective, and not at all
   * with one replica.
   */
  async runOnDevice(batch: StepBatch, store: ParameterStore, group: Collectives, lossScale = 1): Promise<StepOutcome> {
    const acc = this.accumulator;
    if (acc === undefined) throw new Error('gradient cache: not compiled to accumulate on the device (accumulateOnDevice)');
    const names = this.trainable.map((s) => `grad/${s.name}`);
    let sums: Record<string, Feed> = acc.zeros;
    const common = await this.chunks(batch, store, group, lossScale, async (run) => {
      const fed = Object.fromEntries(names.map((n) => [`acc/${n}`, sums[n]!]));
      sums = (await run(fed, { keep: names })).kept;
    });
    let grads: Record<string, Feed> = sums;
    if (group.worldSize > 1) grads = await acc.allreduce(sums as Record<string, DeviceTensor>, group);
    const outputs: Record<string, Feed> = { ...grads };
    for (const [name, st] of common.bnStats) {
      outputs[`bnstat/${name}.mean`] = st.mean;
      outputs[`bnstat/${name}.var`] = st.variance;
    }
    const k = this.opts.model.numClasses;
    return {
      loss: common.nce + common.ce,
      nce: common.nce,
      ce: common.ce,
      correct1: topKCorrect(common.logits, batch.labels, k, 1),
      correct5: topKCorrect(common.logits, batch.labels, k, Math.min(5, k)),
      outputs,
    };
  }

  /**
   * Steps 1-4 and the statistics' reduction: `onChunk` runs each chunk's forward + backward (given the program's run
   * with the chunk's feeds bound) and takes its gradients.
   */
  private async chunks(
    batch: StepBatch,
    store: ParameterStore,
    group: Collectives,
    lossScale: number,
    onChunk: (run: (extra: Record<string, Feed>, outputs: { keep?: string[]; fetch?: string[] }) => Promise<RunOutputs>) => Promise<void>,
  ): Promise<{ nce: number; ce: number; logits: Float32Array; bnStats: BnStats }> {
    const { batchSize: b, chunk: c, model } = this.opts;
    const chunks = b / c;
    const d = this.zDim;
    const k = model.numClasses;
    const per = batch.view1.length / b;
    const views = (i: number): { view1: Float32Array; view2: Float32Array } => ({
      view1: batch.view1.subarray(i * c * per, (i + 1) * c * per),
      view2: batch.view2.subarray(i * c * per, (i + 1) * c * per),
    });

    const bnNames = [...this.bnCounts.keys()];
    const statNames = bnNames.flatMap((n) => [`bnstat/${n}.mean`, `bnstat/${n}.var`]);
    const chunkFeeds = (i: number): Record<string, Feed> => ({
      ...views(i),
      targets: oneHot(Array.from({ length: c }, (_v, j) => batch.labels[i * c + j]), k),
      ...lossScaleFeed(this.opts, lossScale),
    });
    const programs = this.programs;

    // 1-2: embeddings of every chunk, then of every rank. Keeping: the chunk's forward, its activations left in place.
    const zLocal = new Float32Array(2 * b * d);
    let kept: RunOutputs | undefined;
    for (let i = 0; i < chunks; i++) {
      if (programs.kind === 'keep') {
        kept = await programs.forward.runDevice(only(programs.forward, chunkFeeds(i)), store, {
          keep: programs.saved,
          fetch: ['z', ...FORWARD_OUTPUTS, ...statNames],
        });
        zLocal.set(kept.fetched['z']!.data as Float32Array, i * 2 * c * d);
      } else {
        const out = await programs.encode.run(views(i), store);
        zLocal.set(out.z, i * 2 * c * d);
      }
    }
    const zAll = await group.allgather(zLocal);

    // 3: this rank's anchors' loss terms, differentiated w.r.t. every row; summed over ranks.
    const blocks = Array.from({ length: chunks }, (_v, i) =>
      chunkBlocks(group.rank * 2 * b + i * 2 * c, c, this.blockImages),
    ).flat();
    const dzSum = await blockLossGradients(this.lossBlock, zAll, d, blocks);
    const m = zAll.length / d;
    const reduced = await group.allreduceSum(dzSum);
    const nce = reduced[m * d] / m;

    // 4: forward + backward per chunk (keeping: the backward alone), seeded with dL/dz; gradients add up (onChunk).
    const smallOf = (out: RunOutputs): Record<string, Float32Array> =>
      Object.fromEntries([...FORWARD_OUTPUTS, ...statNames].map((n) => [n, out.fetched[n]!.data as Float32Array]));
    const logits = new Float32Array(2 * b * k);
    const bnSums = new Map<string, { mean: Float64Array; square: Float64Array }>();
    let ceSum = 0;
    for (let i = 0; i < chunks; i++) {
      const rowStart = group.rank * 2 * b + i * 2 * c;
      const dz = new Float32Array(2 * c * d);
      for (let j = 0; j < dz.length; j++) dz[j] = reduced[rowStart * d + j] / m;
      const feeds = { ...chunkFeeds(i), dz };
      let small: Record<string, Float32Array> = {};
      await onChunk(async (extra, outputs) => {
        if (programs.kind === 'keep') {
          small = smallOf(kept!);
          return programs.backward.runDevice(only(programs.backward, { ...feeds, ...kept!.kept, ...extra }), store, outputs);
        }
        const out = await programs.chunkStep.runDevice({ ...feeds, ...extra }, store, {
          keep: outputs.keep,
          fetch: [...(outputs.fetch ?? []), ...FORWARD_OUTPUTS, ...statNames],
        });
        small = smallOf(out);
        return out;
      });
      ceSum += small['ce']![0]!;
      // logits laid out as TrainStep's: every view-1 row first, then every view-2 row.
      logits.set(small['logits']!.subarray(0, c * k), i * c * k);
      logits.set(small['logits']!.subarray(c * k), (b + i * c) * k);
      for (const name of bnNames) {
        const mean = small[`bnstat/${name}.mean`]!;
        const variance = small[`bnstat/${name}.var`]!;
        let acc = bnSums.get(name);
        if (acc === undefined) {
          acc = { mean: new Float64Array(mean.length), square: new Float64Array(mean.length) };
          bnSums.set(name, acc);
        }
        for (let j = 0; j < mean.length; j++) {
          acc.mean[j] += mean[j];
          acc.square[j] += variance[j] + mean[j] * mean[j];
        }
      }
    }

    // 5 (statistics): one reduction (float64: pooled variances subtract squares).
    const statLength = bnNames.reduce((a, n) => a + 2 * (bnSums.get(n)?.mean.length ?? 0), 0);
    const stats = new Float64Array(statLength + 1);
    let at = 0;
    for (const name of bnNames) {
      const acc = bnSums.get(name)!;
      stats.set(acc.mean, at);
      stats.set(acc.square, at + acc.mean.length);
      at += 2 * acc.mean.length;
    }
    stats[statLength] = ceSum;
    const totalStats = await group.allreduceSum(stats);
    const chunkCount = chunks * group.worldSize;
    const ce = totalStats[statLength] / chunkCount;
    const bnStats: BnStats = new Map();
    at = 0;
    for (const name of bnNames) {
      const channels = bnSums.get(name)!.mean.length;
      const mean = new Float32Array(channels);
      const variance = new Float32Array(channels);
      for (let j = 0; j < channels; j++) {
        const mu = totalStats[at + j] / chunkCount;
        mean[j] = mu;
        variance[j] = Math.max(0, totalStats[at + channels + j] / chunkCount - mu * mu);
      }
      bnStats.set(name, { mean, variance, count: this.bnCounts.get(name)! * chunkCount });
      at += 2 * channels;
    }
    return { nce, ce, logits, bnStats };
  }

  async release(): Promise<void> {
    const p = this.programs;
    await Promise.all([...(p.kind === 'keep' ? [p.forward, p.backward] : [p.encode, p.chunkStep]), this.lossBlock].map((x) => x.release()));
  }
}

/** The recompute programs: a forward-only encode graph, and the chunk's forward + backward. */
async function compileRecompute(engine: Engine, opts: GradientCacheOptions, step: TrainGraph, memoryArena: boolean): Promise<ChunkPrograms> {
  const [encode, chunkStep] = await Promise.all([
    engine.compile(buildEncodeGraph(opts, engine.provider), { memoryArena }),
    engine.compile(step.graph, { memoryArena }),
  ]);
  return { kind: 'recompute', encode, chunkStep };
}

/**
 * The chunk graph split where the backward reads the forward: every value a forward node computes and a node of the
 * backward (the gradient outputs' other nodes) reads is an output of the forward program, kept in the provider's
 * memory, and an input of the backward program.
 */
async function compileKeep(engine: Engine, step: TrainGraph): Promise<ChunkPrograms> {
  const g = step.graph;
  const outputOf = (name: string): Value => g.outputs.find((o) => o.name === name)!.value;
  const forwardNames = ['z', ...FORWARD_OUTPUTS, ...g.outputs.map((o) => o.name).filter((n) => n.startsWith('bnstat/'))];
  const gradNames = g.outputs.map((o) => o.name).filter((n) => n.startsWith('grad/'));
  const forwardNodes = liveNodes(forwardNames.map(outputOf));
  const saved = new Set<Value>();
  for (const node of liveNodes(gradNames.map(outputOf))) {
    if (forwardNodes.has(node)) continue;
    for (const v of node.inputs) if (v.producer !== undefined && forwardNodes.has(v.producer)) saved.add(v);
  }
  // Outputs named as the values themselves (no Identity), which the backward's inputs are named after too.
  for (const v of saved) if (!g.outputs.some((o) => o.name === v.name)) g.output(v.name, v);
  const kept = [...saved].map((v) => v.name).filter((n) => !forwardNames.includes(n));
  const [forward, backward] = await Promise.all([
    engine.compile(g, { outputs: [...forwardNames, ...kept], onlyUsedInputs: true }),
    engine.compile(g, { outputs: gradNames, cut: [...saved], onlyUsedInputs: true }),
  ]);
  return { kind: 'keep', forward, backward, saved: kept };
}

/** The feeds a program takes (a step's feeds serve two programs with different inputs). */
function only(program: Program, feeds: Record<string, Feed>): Record<string, Feed> {
  return Object.fromEntries(Object.entries(feeds).filter(([name]) => program.inputs.some((s) => s.name === name)));
}

/** The device side of runOnDevice: the zero sums the first chunk adds to, and the gradients' reduction across ranks. */
class DeviceAccumulator {
  private constructor(
    private readonly engine: Engine,
    readonly zeros: Record<string, DeviceTensor>,
  ) {}

  static async create(engine: Engine, specs: readonly ParamSpec[]): Promise<DeviceAccumulator> {
    const store = new ParameterStore();
    for (const s of specs.filter((x) => !x.isBuffer)) store.set(`grad/${s.name}`, s.shape);
    await moveToDevice(engine, store);
    return new DeviceAccumulator(engine, Object.fromEntries(store.names().map((n) => [n, store.require(n).device!])));
  }

  /** In place where the group can (NCCL); else through the host in one buffer (Gloo), as host arrays. */
  async allreduce(grads: Record<string, DeviceTensor>, group: Collectives): Promise<Record<string, Feed>> {
    const names = Object.keys(grads);
    if (group.allreduceSumOnDevice !== undefined) {
      await group.allreduceSumOnDevice(names.map((n) => grads[n]!));
      return grads;
    }
    const store = new ParameterStore();
    for (const n of names) store.setDevice(n, grads[n]!);
    await moveToHost(this.engine, store);
    const total = new Float32Array(names.reduce((a, n) => a + store.require(n).data.length, 0));
    let at = 0;
    for (const n of names) {
      total.set(store.require(n).data, at);
      at += store.require(n).data.length;
    }
    const summed = await group.allreduceSum(total);
    const out: Record<string, Feed> = {};
    at = 0;
    for (const n of names) {
      const len = store.require(n).data.length;
      out[n] = summed.subarray(at, at + len);
      at += len;
    }
    return out;
  }
}

/** Elements of one [anchors, M] similarity tensor in the loss program: bounds its memory (8 MiB) at any M. */
const LOSS_BLOCK_ELEMENTS = 1 << 21;

/** Images per loss block: the largest divisor of the chunk whose 2 x images x M similarities fit the budget. */
export function lossBlockImages(chunk: number, m: number): number {
  for (let s = chunk; s > 1; s--) if (chunk % s === 0 && 2 * s * m <= LOSS_BLOCK_ELEMENTS) return s;
  return 1;
}

/**
 * The anchor rows of every loss block of one chunk whose rows start at `firstRow` ([view 1 of c images; view 2]):
 * blocks of s images, each listed as [view-1 rows; their view-2 positives], the layout ntXentBlockSum expects.
 */
export function chunkBlocks(firstRow: number, c: number, s: number): Int32Array[] {
  const blocks: Int32Array[] = [];
  for (let start = 0; start < c; start += s) {
    const rows = new Int32Array(2 * s);
    for (let i = 0; i < s; i++) {
      rows[i] = firstRow + start + i;
      rows[s + i] = firstRow + c + start + i;
    }
    blocks.push(rows);
  }
  return blocks;
}

/**
 * Sum over `blocks` (global row indices, see chunkBlocks) of (block loss sum, d(block loss sum)/dz for EVERY row of
 * z [M, D]), as [dz (M x D); loss] in float64, ready for the allreduce. Summed over all blocks of all ranks and divided
 * by M, it is (NT-Xent, dNT-Xent/dz) of the global batch. Each block's rows are moved to the front of the program's
 * input (the rest keep their order), and its gradient is moved back.
 */
export async function blockLossGradients(
  lossBlock: Program,
  zAll: Float32Array,
  d: number,
  blocks: readonly Int32Array[],
): Promise<Float64Array> {
  const m = zAll.length / d;
  const permuted = new Float32Array(zAll.length);
  const order = new Int32Array(m);
  const isAnchor = new Uint8Array(m);
  const sum = new Float64Array(zAll.length + 1);
  for (const rows of blocks) {
    isAnchor.fill(0);
    order.set(rows);
    for (const r of rows) isAnchor[r] = 1;
    let at = rows.length;
    for (let j = 0; j < m; j++) if (isAnchor[j] === 0) order[at++] = j;
    for (let i = 0; i < m; i++) permuted.set(zAll.subarray(order[i] * d, (order[i] + 1) * d), i * d);
    const out = await lossBlock.run({ z: permuted });
    const dz = out.dz;
    for (let i = 0; i < m; i++) {
      const to = order[i] * d;
      for (let k = 0; k < d; k++) sum[to + k] += dz[i * d + k];
    }
    sum[zAll.length] += out.loss[0];
  }
  return sum;
}


/** Forward only, train-mode BatchNorm: the chunk's embeddings z [2c, D]. */
export function buildEncodeGraph(o: GradientCacheOptions, target: KernelTarget = 'cpu'): Graph {
  const g = new Graph(`simclr_encode_c${o.chunk}`, target);
  const x = viewPairInput(g, o.model, o.chunk, o.height, o.width, o.precision);
  g.output('z', buildSimclrModel(g, x, o.model, 'train').outputs.z);
  return g;
}

/**
 * Forward + backward of one chunk seeded with dL/dz (input `dz` [2c, D]) and the classifier's cross entropy weighted
 * by the chunk's share of the global batch, so that the gradients summed over every chunk of every rank are those
 * of (global NT-Xent + global mean cross entropy), what TrainStep differentiates on one batch.
 */
export function buildChunkGraph(o: GradientCacheOptions, target: KernelTarget = 'cpu'): TrainGraph {
  const g = new Graph(`simclr_chunk_c${o.chunk}`, target);
  const { built, logits, ce } = buildTrainForward(g, o.model, o.chunk, o.height, o.width, o.precision);
  const z = built.outputs.z;
  const dz = g.input('dz', z.shape);
  const share = o.chunk / (o.batchSize * o.worldSize);
  g.output('z', z);
  g.output('ce', ce);
  g.output('logits', logits);
  // fp16: both seeds times the loss scale (an input), which the update divides out.
  const scale = o.precision === 'fp16' ? scaledSeed(g, 'fp16') : undefined;
  const seeds = scale === undefined ? [[z, dz], [ce, g.scalar(share)]] as const : [[z, op.mul(dz, scale)], [ce, op.mul(scale, share)]] as const;
  return outputGradientsAndStats(g, built, { seeds }, o.accumulateOnDevice ?? false);
}

/** Input z [M, D] (rolled so the block comes first): the block's loss sum and its gradient w.r.t. every row. */
export function buildLossBlockGraph(m: number, d: number, blockRows: number, temperature: number, target: KernelTarget = 'cpu'): Graph {
  const g = new Graph(`ntxent_block_m${m}_b${blockRows}`, target);
  const z = g.input('z', [m, d]);
  const loss = ntXentBlockSum(z, blockRows, temperature);
  const [dz] = gradients(loss, [z]);
  g.output('loss', loss);
  g.output('dz', dz);
  return g;
}
