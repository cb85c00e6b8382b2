// Where the update runs: the interface the loop drives, and the choice per provider.
//   DeviceUpdate (device-update.ts): clip + optimizer + running statistics as one compiled program; weights and state
//     stay in the provider's memory. For the GPU providers, where the host is across a bus.
//   HostUpdate: the JS optimizer over host arrays (applyUpdate). For the CPU provider, where "the device" is the same
//     memory and one fused JS loop per parameter beats ORT's dozen elementwise passes (bench/README.md, device-state).
import { Engine, ParameterStore, type Feed } from '../engine/index.js';
import type { ParamSpec } from '../models/index.js';
import type { Optimizer } from '../optim/index.js';
import { DeviceUpdate, type DeviceUpdateOptions } from './device-update.js';
import { applyUpdate, type StepResult } from './step.js';

export interface Update {
  /** Where the state lives while training: 'device' or 'host'. */
  readonly placement: 'device' | 'host';
  /** Before a step: the state where the update wants it. */
  toDevice(store: ParameterStore): Promise<void>;
  /** For checkpoints and evaluation: every weight and the optimizer's state readable on the host. */
  toHost(store: ParameterStore): Promise<void>;
  /** One update with a step's outputs (`grad/<p>`, `bnstat/<bn>.mean|var`); returns the gradient norm (NaN without clipping on the host). */
  run(store: ParameterStore, stepOutputs: Readonly<Record<string, Feed>>, lr: number, lossScale?: number): Promise<number>;
  release(): Promise<void>;
}

export async function createUpdate(
  engine: Engine,
  specs: readonly ParamSpec[],
  statCounts: ReadonlyMap<string, number>,
  optimizer: Optimizer,
  o: DeviceUpdateOptions,
): Promise<Update> {
  if (engine.provider === 'cpu' && !o.lossScaled) return new HostUpdate(specs, statCounts, optimizer, o);
  return DeviceUpdate.compile(engine, specs, statCounts, optimizer, o);
}

export class HostUpdate implements Update {
  readonly placement = 'host';

  constructor(
    private readonly specs: readonly ParamSpec[],
    private readonly statCounts: ReadonlyMap<string, number>,
    private readonly optimizer: Optimizer,
    private readonly o: DeviceUpdateOptions,
  ) {}

  async toDevice(): Promise<void> {}

  async toHost(): Promise<void> {}

  async run(store: ParameterStore, outputs: Readonly<Record<string, Feed>>, lr: number, lossScale = 1): Promise<number> {
    // fp16 (the only loss-scaled training) needs a GPU provider: the config refuses it on the CPU (train-config.ts).
    if (lossScale !== 1) throw new Error('host update: loss-scaled (fp16) gradients are updated on the device only');
    const host = (name: string): Float32Array => {
      const v = outputs[name];
      if (!(v instanceof Float32Array)) throw new Error(`host update: ${name} is not a host array`);
      return v;
    };
    const grads = new Map(this.specs.filter((s) => !s.isBuffer).map((s) => [s.name, host(`grad/${s.name}`)]));
    const bnStats: StepResult['bnStats'] = new Map();
    for (const [name, count] of this.statCounts) bnStats.set(name, { mean: host(`bnstat/${name}.mean`), variance: host(`bnstat/${name}.var`), count });
    return applyUpdate({ grads, bnStats }, this.specs, store, this.optimizer, { lr, clip: this.o.clip, bnMomentum: this.o.bnMomentum });
  }

  async release(): Promise<void> {}
}
