// Graph: records inputs, trainable parameters, constants and nodes in creation order (which is topological, since a
// node can only consume values that already exist), and the named outputs.

import { type Attrs, type ConstantData, type DType, type Node, type Shape, Value, fmtShape, sizeOf } from './ir.js';
import { toOnnx, type ToOnnxOptions } from './onnx.js';
import type { KernelTarget } from './target.js';
import { toHalfArray } from './half.js';

export interface OutSpec {
  shape: Shape;
  dtype: DType;
}

type ConstArray = ConstantData['data'];

export class Graph {
  readonly nodes: Node[] = [];
  /** Data inputs (fed per run). */
  readonly inputs: Value[] = [];
  /** Trainable parameters: graph inputs too, fed by the engine from its ParameterStore. */
  readonly params: Value[] = [];
  readonly constants: ConstantData[] = [];
  readonly outputs: { name: string; value: Value }[] = [];
  private readonly names = new Set<string>();
  private readonly scalarCache = new Map<string, Value>();
  private readonly zerosCache = new Map<string, Value>();
  private nextId = 0;
  private scope: string | undefined;

  /**
   * @param target the execution provider this graph is built for: gradient forms and lowerings are picked for its
   * kernels (target.ts), and the engine compiles a graph only on its own target.
   */
  constructor(readonly name: string, readonly target: KernelTarget = 'cpu') {}

  input(name: string, shape: Shape, dtype: DType = 'float32'): Value {
    const v = new Value(this, this.claim(name), checkShape(shape, name), dtype, 'input');
    this.inputs.push(v);
    return v;
  }

  param(name: string, shape: Shape, dtype: DType = 'float32'): Value {
    const v = new Value(this, this.claim(name), checkShape(shape, name), dtype, 'param');
    this.params.push(v);
    return v;
  }

  /** A constant tensor stored in the model. The data is kept by reference (a Float32Array for float16 is rounded). */
  constant(data: ConstArray, shape: Shape, dtype: DType = dtypeOf(data), name?: string): Value {
    if (dtype === 'float16' && data instanceof Float32Array) data = toHalfArray(data);
    if (data.length !== sizeOf(shape)) {
      throw new Error(`constant ${name ?? ''}: ${data.length} elements do not fill shape ${fmtShape(shape)}`);
    }
    const v = new Value(this, this.claim(name ?? this.fresh('const')), checkShape(shape, 'constant'), dtype, 'constant');
    this.constants.push({ value: v, data });
    return v;
  }

  /** A rank-0 constant, shared between uses of the same number and dtype. */
  scalar(x: number, dtype: DType = 'float32'): Value {
    const key = `${dtype}:${Object.is(x, -0) ? '-0' : x}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant(arrayOf(dtype, [x]), [], dtype);
      this.scalarCache.set(key, v);
    }
    return v;
  }

  /** A zero-filled constant, shared between uses of the same shape and dtype (so ORT's CSE can merge their users). */
  zeros(shape: Shape, dtype: DType = 'float32'): Value {
    const key = `${dtype}:${shape.join('x')}`;
    let v = this.zerosCache.get(key);
    if (!v) {
      v = this.constant(arrayOf(dtype, new Array<number>(sizeOf(shape)).fill(0)), shape, dtype);
      this.zerosCache.set(key, v);
    }
    return v;
  }

  /** An int64 vector constant (shapes, axes, pads...). */
  ints(xs: readonly number[]): Value {
    return this.constant(BigInt64Array.from(xs.map(BigInt)), [xs.length], 'int64');
  }

  /** Appends a node; the caller (an op builder) has already inferred the output shapes. */
  addNode(opType: string, inputs: readonly Value[], attrs: Attrs, outs: readonly OutSpec[]): Value[] {
    for (const v of inputs) {
      if (v.graph !== this) throw new Error(`${opType}: input ${v.name} belongs to graph ${v.graph.name}, not ${this.name}`);
    }
    const id = this.nextId++;
    const node: Node = { id, opType, inputs: [...inputs], outputs: [], attrs, ...(this.scope ? { scope: this.scope } : {}) };
    for (const [i, o] of outs.entries()) {
      const base = `${opType.toLowerCase()}_${id}${outs.length > 1 ? `_${i}` : ''}`;
      node.outputs.push(new Value(this, this.claim(this.names.has(base) ? this.fresh(base) : base), o.shape, o.dtype, 'node', node));
    }
    this.nodes.push(node);
    return node.outputs;
  }

  /** The scope nodes are being built in (withScope), if any. */
  get currentScope(): string | undefined {
    return this.scope;
  }

  /** Runs build() with every node it adds tagged `scope` (ORT's profiler then attributes time per scope). */
  withScope<T>(scope: string, build: () => T): T {
    const outer = this.scope;
    this.scope = scope;
    try {
      return build();
    } finally {
      this.scope = outer;
    }
  }

  output(name: string, value: Value): void {
    if (value.graph !== this) throw new Error(`output ${name}: value ${value.name} belongs to another graph`);
    if (this.outputs.some((o) => o.name === name)) throw new Error(`output ${name} declared twice`);
    this.outputs.push({ name, value });
  }

  /** A name not yet used in this graph, starting with `prefix`. */
  fresh(prefix: string): string {
    let i = this.names.size;
    while (this.names.has(`${prefix}_${i}`)) i++;
    return `${prefix}_${i}`;
  }

  /** Serializes to ONNX (opset 17, 18 with Col2Im); nodes that no requested output needs are left out. */
  toOnnx(options: ToOnnxOptions = {}): Uint8Array {
    return toOnnx(this, options);
  }

  private claim(name: string): string {
    if (!name) throw new Error('empty value name');
    if (this.names.has(name)) throw new Error(`name ${name} is already used in graph ${this.name}`);
    this.names.add(name);
    return name;
  }
}

function checkShape(shape: Shape, what: string): Shape {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: shape ${fmtShape(shape)} must hold non-negative integers`);
  }
  return [...shape];
}

function dtypeOf(data: ConstArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint16Array) return 'float16';
  return 'bool';
}

export function arrayOf(dtype: DType, xs: readonly number[]): ConstArray {
  switch (dtype) {
    case 'float16': return toHalfArray(xs);
    case 'float32': return Float32Array.from(xs);
    case 'float64': return Float64Array.from(xs);
    case 'int64': return BigInt64Array.from(xs.map((x) => BigInt(x)));
    case 'int32': return Int32Array.from(xs);
    case 'bool': return Uint8Array.from(xs.map((x) => (x ? 1 : 0)));
  }
}
