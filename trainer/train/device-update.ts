// The update as a compiled program, so weights, BatchNorm running statistics and optimizer state stay in the
// provider's memory (the device path): clip by the global gradient norm, the optimizer's graph form for every
// trainable parameter, the running-statistics update; per step only the learning rate and the optimizer's scalars go
// in and the gradient norm comes out. Optimizer slots live in the ParameterStore as `optimizer/<slot>/<param>`, in
// the layout of Optimizer.stateDict, which they are copied back into whenever the state comes to the host.
//
// Graph inputs: every trainable parameter, `grad/<p>`, each slot, the per-step scalars, and per BatchNorm its running
// statistics and `bnstat/<bn>.mean|var` (the step's batch statistics). Outputs: `new/<store name>` for each parameter,
// slot and running statistic, and `grad_norm`.
import { Engine, ParameterStore, moveToDevice, moveToHost, type Feed, type Program } from '../engine/index.js';
import { Graph, op, type KernelTarget, type Value } from '../graph/index.js';
import type { ParamSpec } from '../models/index.js';
import type { Optimizer } from '../optim/index.js';
import type { Update } from './update.js';

export interface DeviceUpdateOptions {
  /** Global-norm clip (0 = off). */
  clip: number;
  bnMomentum: number;
  /**
   * fp16 training: the gradients come scaled by the loss scale (an input `scalar/inv_loss_scale` multiplies it out
   * first), and a step whose gradients are not finite keeps every old value and is uncounted (loss-scale.ts).
   */
  lossScaled?: boolean;
}

/** The store name of a parameter's optimizer slot. */
export const slotName = (slot: string, param: string): string => `optimizer/${slot}/${param}`;

export class DeviceUpdate implements Update {
  readonly placement = 'device';
  /** Whether the state is in the provider's memory (between toDevice and toHost). */
  private resident = false;

  private constructor(
    private readonly engine: Engine,
    private readonly program: Program,
    private readonly optimizer: Optimizer,
    private readonly stored: readonly string[],
    private readonly slotKeys: ReadonlyMap<string, string>,
    private readonly lossScaled: boolean,
  ) {}

  static async compile(
    engine: Engine,
    specs: readonly ParamSpec[],
    bnCounts: ReadonlyMap<string, number>,
    optimizer: Optimizer,
    o: DeviceUpdateOptions,
  ): Promise<DeviceUpdate> {
    const { graph, stored, slotKeys } = buildUpdateGraph(specs, bnCounts, optimizer, o, engine.provider);
    return new DeviceUpdate(engine, await engine.compile(graph), optimizer, stored, slotKeys, o.lossScaled ?? false);
  }

  /**
   * Puts the optimizer's state (zeros for slots it has not made yet) into the store and moves every entry the update
   * touches to the provider's memory; a no-op for entries already there.
   */
  async toDevice(store: ParameterStore): Promise<void> {
    if (this.resident) return;
    const state = this.optimizer.stateDict().tensors;
    for (const [key, name] of this.slotKeys) {
      if (store.has(name)) continue;
      const param = store.require(key.slice(key.indexOf('/') + 1));
      store.set(name, param.shape, state[key] !== undefined ? Float32Array.from(state[key]) : undefined);
    }
    await moveToDevice(this.engine, store, this.stored);
    this.resident = true;
  }

  /** Brings the state to the host and hands the slots back to the optimizer (for checkpoints and evaluation). */
  async toHost(store: ParameterStore): Promise<void> {
    if (!this.resident) return;
    await moveToHost(this.engine, store);
    const tensors: Record<string, Float32Array> = {};
    for (const [key, name] of this.slotKeys) {
      tensors[key] = store.require(name).data;
      store.delete(name);
    }
    const { kind, stepCount } = this.optimizer;
    this.optimizer.loadStateDict({ kind, step: stepCount, tensors });
    this.resident = false;
  }

  /**
   * One update with `stepOutputs` (`grad/<p>`, `bnstat/<bn>.mean|var`); returns the (unscaled) gradient norm before
   * clipping. Compiled lossScaled, the gradients are divided by `lossScale`, and a non-finite norm means the step was
   * skipped.
   */
  async run(store: ParameterStore, stepOutputs: Readonly<Record<string, Feed>>, lr: number, lossScale = 1): Promise<number> {
    if (!this.resident) throw new Error('DeviceUpdate.run: the state is on the host; call toDevice first');
    if (!this.lossScaled && lossScale !== 1) throw new Error(`DeviceUpdate.run: loss scale ${lossScale}, but not compiled lossScaled`);
    const t = this.optimizer.beginStep(lr);
    const scalars = Object.entries(this.optimizer.stepScalars(lr, t)).map(([k, v]) => [scalarName(k), Float32Array.of(v)]);
    if (this.lossScaled) scalars.push([scalarName(INV_LOSS_SCALE), Float32Array.of(1 / lossScale)]);
    const { kept, fetched } = await this.program.runDevice({ ...stepOutputs, ...Object.fromEntries(scalars) }, store, {
      keep: this.stored.map(newName),
      fetch: ['grad_norm'],
    });
    const norm = (fetched['grad_norm']!.data as Float32Array)[0]!;
    if (this.lossScaled && !Number.isFinite(norm)) this.optimizer.cancelStep();
    // A non-finite norm under clipping left every value as it was (the graph's guard), as the host path refuses it.
    for (const name of this.stored) store.require(name).setDevice(kept[newName(name)]!);
    return norm;
  }

  async release(): Promise<void> {
    await this.program.release();
  }
}

const newName = (name: string): string => `new/${name}`;
const scalarName = (name: string): string => `scalar/${name}`;
const INV_LOSS_SCALE = 'inv_loss_scale';

/** The update graph; `stored`: the store entries it replaces; `slotKeys`: checkpoint key -> store name per slot. */
export function buildUpdateGraph(
  specs: readonly ParamSpec[],
  bnCounts: ReadonlyMap<string, number>,
  optimizer: Optimizer,
  o: DeviceUpdateOptions,
  target: KernelTarget = 'cpu',
): { graph: Graph; stored: string[]; slotKeys: Map<string, string> } {
  const g = new Graph(`update_${optimizer.kind}`, target);
  const trainable = specs.filter((s) => !s.isBuffer);
  const scalars: Record<string, Value> = {};
  for (const k of Object.keys(optimizer.stepScalars(1, 1))) scalars[k] = g.input(scalarName(k), []);
  const fed = trainable.map((s) => g.input(`grad/${s.name}`, s.shape));
  const inv = o.lossScaled ? g.input(scalarName(INV_LOSS_SCALE), []) : undefined;
  const grads = inv === undefined ? fed : fed.map((gr) => op.mul(gr, inv));
  let sumSquares: Value | undefined;
  for (const gr of grads) {
    const ss = op.reduceSum(op.mul(gr, gr));
    sumSquares = sumSquares === undefined ? ss : op.add(sumSquares, ss);
  }
  const norm = op.sqrt(sumSquares ?? g.scalar(0));
  g.output('grad_norm', norm);
  // clip_grad_norm_: scale by clip / (norm + 1e-6) where that is below 1; a non-finite norm keeps every old value
  // (under clipping, and always for loss-scaled gradients: that is the skipped step).
  const scale = o.clip > 0 ? clipScale(norm, o.clip) : undefined;
  const finite = o.clip > 0 || o.lossScaled ? op.equal(op.sub(norm, norm), 0) : undefined;
  const guarded = (next: Value, old: Value): Value => (finite === undefined ? next : op.where(finite, next, old));

  const stored: string[] = [];
  const slotKeys = new Map<string, string>();
  const emit = (name: string, next: Value, old: Value): void => {
    g.output(newName(name), guarded(next, old));
    stored.push(name);
  };
  trainable.forEach((s, i) => {
    const w = g.input(s.name, s.shape);
    const slots: Record<string, Value> = {};
    for (const slot of optimizer.slotsOf(s.isOneD)) {
      const name = slotName(slot, s.name);
      slotKeys.set(`${slot}/${s.name}`, name);
      slots[slot] = g.input(name, s.shape);
    }
    const gr = scale === undefined ? grads[i]! : op.mul(grads[i]!, scale);
    const next = optimizer.graphUpdate({ w, g: gr, isOneD: s.isOneD, slots }, scalars);
    emit(s.name, next.w, w);
    for (const [slot, v] of Object.entries(next.slots)) emit(slotName(slot, s.name), v, slots[slot]!);
  });
  const m = o.bnMomentum;
  for (const [bn, count] of bnCounts) {
    const shapeOf = (n: string): readonly number[] => {
      const spec = specs.find((s) => s.name === n);
      if (spec === undefined) throw new Error(`update: no running statistics ${n} for BatchNorm ${bn}`);
      return spec.shape;
    };
    const mean = g.input(`${bn}.running_mean`, shapeOf(`${bn}.running_mean`));
    const variance = g.input(`${bn}.running_var`, shapeOf(`${bn}.running_var`));
    const batchMean = g.input(`bnstat/${bn}.mean`, mean.shape);
    const batchVar = g.input(`bnstat/${bn}.var`, variance.shape);
    // updateRunningStats: the unbiased batch variance, PyTorch's momentum.
    const unbias = count > 1 ? count / (count - 1) : 1;
    emit(`${bn}.running_mean`, op.add(op.mul(mean, 1 - m), op.mul(batchMean, m)), mean);
    emit(`${bn}.running_var`, op.add(op.mul(variance, 1 - m), op.mul(batchVar, m * unbias)), variance);
  }
  return { graph: g, stored, slotKeys };
}

function clipScale(norm: Value, clip: number): Value {
  const coef = op.div(clip, op.add(norm, 1e-6));
  return op.where(op.less(coef, 1), coef, 1);
}
