// ParameterStore: named float32 tensors that live with the engine across steps (weights, BN running stats,
// optimizer state). Programs read their inputs from it by name; the arrays are handed to ORT without copying.

import type { Graph } from '../graph/index.js';

export interface Parameter {
  readonly shape: readonly number[];
  /** Replaced or updated in place by optimizers; its length always matches shape. */
  data: Float32Array;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class ParameterStore {
  private readonly map = new Map<string, Parameter>();

  /** Adds or replaces `name`; zeros when no data is given. */
  set(name: string, shape: readonly number[], data?: Float32Array): Parameter {
    const d = data ?? new Float32Array(size(shape));
    if (d.length !== size(shape)) throw new Error(`parameter ${name}: ${d.length} values do not fill shape [${shape.join(',')}]`);
    const p = { shape: [...shape], data: d };
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
