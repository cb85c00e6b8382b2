// ParameterStore: named float32 tensors that live with the engine across steps (weights, BN running stats,
// optimizer state). Each lives either in host memory (a Float32Array that programs read without another copy and
// optimizers may update in place) or in the provider's memory (a DeviceTensor that runs feed and replace without
// crossing to the host). Reading the host array of a tensor that lives on the device is an error until
// ParameterStore.toHost brings it back, so a stale copy can never be read or checkpointed by mistake.

import { sizeOf, type Graph } from '../graph/index.js';
import type { DeviceTensor } from '../native/index.js';
import type { Feed } from './program.js';


export class Parameter {
  private host: Float32Array | undefined;
  private onDevice: DeviceTensor | undefined;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    value: Float32Array | DeviceTensor,
  ) {
    if (value instanceof Float32Array) this.data = value;
    else this.setDevice(value);
  }

  /** The host array; an error while the value lives on the device (ParameterStore.toHost first). */
  get data(): Float32Array {
    if (this.host === undefined) {
      throw new Error(`parameter ${this.name} lives in the provider's memory: bring it to the host first (ParameterStore.toHost)`);
    }
    return this.host;
  }

  /** Replaces the value with a host array (the device copy, if any, is dropped). */
  set data(d: Float32Array) {
    if (d.length !== sizeOf(this.shape)) throw new Error(`parameter ${this.name}: ${d.length} values do not fill shape [${this.shape.join(',')}]`);
    this.host = d;
    this.onDevice = undefined;
  }

  /** The device tensor when the value lives on the device. */
  get device(): DeviceTensor | undefined {
    return this.onDevice;
  }

  /** Replaces the value with a tensor in the provider's memory (the host array becomes unreadable). */
  setDevice(t: DeviceTensor): void {
    if (sizeOf(t.shape) !== sizeOf(this.shape)) throw new Error(`parameter ${this.name}: a tensor of shape [${t.shape.join(',')}] does not fit [${this.shape.join(',')}]`);
    this.onDevice = t;
    this.host = undefined;
  }

  /** What a program is fed: the device tensor, else the host array. */
  get feed(): Feed {
    return this.onDevice ?? this.data;
  }
}

export class ParameterStore {
  private readonly map = new Map<string, Parameter>();

  /** Adds or replaces `name`; zeros when no data is given. */
  set(name: string, shape: readonly number[], data?: Float32Array): Parameter {
    const d = data ?? new Float32Array(sizeOf(shape));
    if (d.length !== sizeOf(shape)) throw new Error(`parameter ${name}: ${d.length} values do not fill shape [${shape.join(',')}]`);
    const p = new Parameter(name, [...shape], d);
    this.map.set(name, p);
    return p;
  }

  /** Adds or replaces `name` with a tensor that lives in the provider's memory. */
  setDevice(name: string, tensor: DeviceTensor): Parameter {
    const p = new Parameter(name, [...tensor.shape], tensor);
    this.map.set(name, p);
    return p;
  }

  /** The existing parameter, or a new zero one; an existing one with another shape is an error. */
  ensure(name: string, shape: readonly number[]): Parameter {
    const p = this.map.get(name);
    if (!p) return this.set(name, shape);
    if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`parameter ${name} has shape [${p.shape.join(',')}], not [${shape.join(',')}]`);
    }
    return p;
  }

  /** Zero-initialised entries for every `graph.param` not yet in the store. */
  ensureGraphParams(graph: Graph): void {
    for (const v of graph.params) this.ensure(v.name, v.shape);
  }

  get(name: string): Parameter | undefined {
    return this.map.get(name);
  }

  require(name: string): Parameter {
    const p = this.map.get(name);
    if (!p) throw new Error(`parameter ${name} is not in the store`);
    return p;
  }

  /** What a program is fed for `name`, or undefined when the store has no such entry. */
  feed(name: string): Feed | undefined {
    return this.map.get(name)?.feed;
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  delete(name: string): boolean {
    return this.map.delete(name);
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  entries(): IterableIterator<[string, Parameter]> {
    return this.map.entries();
  }

  get size(): number {
    return this.map.size;
  }
}
