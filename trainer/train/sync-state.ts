// Every replica starts from rank 0's state: weights, BatchNorm buffers, optimizer state and the global step.
// Rank 0 alone reads checkpoints (a fresh start or a resume), then broadcasts: a JSON header (step, optimizer slots,
// or rank 0's error), then one float32 buffer with every tensor. Other ranks need no access to the checkpoint volume,
// and a config error on rank 0 reaches them as that error instead of as a collective timeout.
import type { ParameterStore } from '../engine/index.js';
import type { ParamSpec } from '../models/index.js';
import type { Optimizer } from '../optim/index.js';
import type { DynamicLossScale, LossScaleState } from './loss-scale.js';

/** The collectives this needs (ProcessGroup). */
export interface Broadcaster {
  readonly rank: number;
  readonly worldSize: number;
  broadcast<T extends Float32Array | Int32Array | Uint8Array>(data: T, root?: number): Promise<T>;
}

interface Header {
  ok: boolean;
  error?: string;
  step: number;
  optimizerStep: number;
  /** [slot name, length] in buffer order. */
  slots: [string, number][];
  /** fp16 runs: rank 0's loss scale, so every rank skips and scales alike. */
  lossScale?: LossScaleState;
}

export interface InitialState {
  /** Rank 0 only: fills the store and optimizer (from a checkpoint, or leaves the init) and returns the step. */
  load(): Promise<number>;
  store: ParameterStore;
  specs: readonly ParamSpec[];
  optimizer: Optimizer;
  lossScale?: DynamicLossScale;
}

/** Returns the global step to continue from, the same on every rank; rank 0's load() error is rethrown everywhere. */
export async function syncInitialState(group: Broadcaster, s: InitialState): Promise<number> {
  if (group.worldSize === 1) return s.load();
  let header: Header = { ok: true, step: 0, optimizerStep: 0, slots: [] };
  let failure: unknown;
  if (group.rank === 0) {
    try {
      const step = await s.load();
      const state = s.optimizer.stateDict();
      header = { ok: true, step, optimizerStep: state.step, slots: Object.entries(state.tensors).map(([k, v]) => [k, v.length]),
        ...(s.lossScale ? { lossScale: s.lossScale.state() } : {}) };
    } catch (err) {
      failure = err;
      header = { ok: false, error: err instanceof Error ? err.message : String(err), step: 0, optimizerStep: 0, slots: [] };
    }
  }
  const bytes = new TextEncoder().encode(JSON.stringify(header));
  const length = await group.broadcast(Int32Array.of(bytes.length));
  const received = await group.broadcast(group.rank === 0 ? bytes : new Uint8Array(length[0]));
  if (failure !== undefined) throw failure;
  header = JSON.parse(new TextDecoder().decode(received)) as Header;
  if (!header.ok) throw new Error(`rank 0 could not start: ${header.error}`);

  const tensors = s.specs.map((spec) => s.store.require(spec.name).data);
  const total = tensors.reduce((a, t) => a + t.length, 0) + header.slots.reduce((a, [, n]) => a + n, 0);
  const buffer = new Float32Array(total);
  if (group.rank === 0) {
    let at = 0;
    for (const t of tensors) {
      buffer.set(t, at);
      at += t.length;
    }
    const slots = s.optimizer.stateDict().tensors;
    for (const [name] of header.slots) {
      buffer.set(slots[name], at);
      at += slots[name].length;
    }
  }
  const state = await group.broadcast(buffer);
  if (group.rank !== 0) {
    let at = 0;
    for (const t of tensors) {
      t.set(state.subarray(at, at + t.length));
      at += t.length;
    }
    const slots: Record<string, Float32Array> = {};
    for (const [name, n] of header.slots) {
      slots[name] = state.slice(at, at + n);
      at += n;
    }
    s.optimizer.loadStateDict({ kind: s.optimizer.kind, step: header.optimizerStep, tensors: slots });
    if (s.lossScale !== undefined && header.lossScale !== undefined) s.lossScale.load(header.lossScale);
  }
  return header.step;
}

/** Rank 0's values of `arrays` into every rank's (same lengths everywhere), as one float32 broadcast. */
export async function broadcastArrays(group: Broadcaster, arrays: readonly Float32Array[]): Promise<void> {
  if (group.worldSize === 1) return;
  const buffer = new Float32Array(arrays.reduce((a, t) => a + t.length, 0));
  let at = 0;
  if (group.rank === 0) {
    for (const t of arrays) {
      buffer.set(t, at);
      at += t.length;
    }
  }
  const received = await group.broadcast(buffer);
  if (group.rank === 0) return;
  at = 0;
  for (const t of arrays) {
    t.set(received.subarray(at, at + t.length));
    at += t.length;
  }
}
