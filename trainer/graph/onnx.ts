// Serialization: Graph -> ONNX ModelProto bytes (opset 17, or 18 where a strided input gradient lowers to Col2Im;
// ir_version 8) through onnx-proto's protobufjs bindings.
// Only nodes that a requested output needs are written; our own ops are lowered to ONNX ops here.

import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Graph } from './graph.js';
import { type Attr, type Attrs, type DType, type Node, type Value, sizeOf } from './ir.js';
import { toHalfArray, toHalfBits } from './half.js';
import type { Lowerer } from './registry.js';
import { hasKernel, type KernelTarget } from './target.js';
import { COLLECTIVES_DOMAIN } from './rules/collectives.js';
import { OP_TABLE } from './rules/index.js';

const { onnx } = onnxProto;

/** The opset of graphs without Col2Im (what exported encoders carry, for the widest range of runtimes). */
export const OPSET = 17;
/** Col2Im (training graphs' strided input gradients) came with opset 18. */
const COL2IM_OPSET = 18;
export const IR_VERSION = 8;

export interface ToOnnxOptions {
  /** Names of graph outputs to keep (default: all); fewer outputs means a smaller program. */
  outputs?: readonly string[];
  /** Model metadata (metadata_props). */
  metadata?: Readonly<Record<string, string>>;
  /**
   * The provider to lower our own ops for (default: the graph's target). On the CPU strided input gradients lower to
   * MatMul + Col2Im (opset 18); providers without a Col2Im kernel get ConvTranspose, and WebGPU, which has no
   * LogSoftmax, gets it written out from Softmax's parts.
   */
  target?: KernelTarget;
  /**
   * Values of graph inputs or params this program keeps fixed for its lifetime (undefined: an input as usual). They
   * are written as initializers, so ORT can fold them: BatchNorm (its running statistics included) into the Conv
   * before it, the Relu after it, NCHWc Convs (ORT blocks only Convs with constant weights), pre-packed GEMM weights.
   * A fixed value no live node reads is left out.
   */
  fixedInputs?: (name: string) => Float32Array | undefined;
  /**
   * Values computed by an earlier program that this one takes as inputs (named as the values): their producers are not
   * written. Splits one graph into programs run in turn, e.g. a forward whose saved activations feed the backward.
   */
  cut?: readonly Value[];
  /** Declare only the graph inputs and params the written nodes read (a program of part of a graph). */
  onlyUsedInputs?: boolean;
}

// Opset 18 moved these reductions' axes from an attribute to an input (ReduceSum's moved in 13); the IR keeps the
// attribute, which the rules read, and the writer emits the input.
const AXES_INPUT_SINCE_18 = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);

const ELEM_TYPE: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };

export function toOnnx(graph: Graph, options: ToOnnxOptions = {}): Uint8Array {
  const outputs = selectOutputs(graph, options.outputs);
  const cut = new Set(options.cut ?? []);
  const live = liveNodes(outputs.map((o) => o.value), cut);
  const target = options.target ?? graph.target;
  const opset = hasKernel(target, 'Col2Im') && [...live].some((n) => n.opType === 'ConvInputGradCols') ? COL2IM_OPSET : OPSET;
  const w = new Writer(graph, opset, target);
  for (const node of graph.nodes) if (live.has(node)) w.node(node);
  for (const o of outputs) w.bindOutput(o.name, o.value);
  const usedConsts = graph.constants.filter((c) => w.used.has(c.value.name));
  const declared = [...graph.inputs, ...graph.params];
  const fixed = declared.flatMap((p) => {
    const data = options.fixedInputs?.(p.name);
    return data === undefined ? [] : [{ value: p, data }];
  });
  const fixedNames = new Set(fixed.map((f) => f.value.name));
  const cutInputs = [...cut].filter((v) => w.used.has(v.name));
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }, ...[...w.domains].map((domain) => ({ domain, version: 1 }))],
    producerName: 'simclr-k8s trainer/graph',
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: w.nodes,
      input: [...declared.filter((v) => !fixedNames.has(v.name) && (!options.onlyUsedInputs || w.used.has(v.name))), ...cutInputs]
        .map((v) => valueInfo(v.name, v.dtype, v.shape)),
      output: outputs.map((o) => valueInfo(o.name, o.value.dtype, o.value.shape)),
      initializer: [
        ...usedConsts.map((c) => tensorProto(c.value, c.data)),
        ...fixed.filter((f) => w.used.has(f.value.name)).map((f) => tensorProto(f.value, f.data)),
        ...w.extraConsts,
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function selectOutputs(graph: Graph, names?: readonly string[]): Graph['outputs'] {
  if (!names) return graph.outputs;
  return names.map((n) => {
    const o = graph.outputs.find((x) => x.name === n);
    if (!o) throw new Error(`toOnnx: no output named ${n} (have: ${graph.outputs.map((x) => x.name).join(', ')})`);
    return o;
  });
}

/** Nodes reachable backwards from the wanted values (dead-code elimination), not crossing the `cut` values. */
export function liveNodes(wanted: readonly Value[], cut: ReadonlySet<Value> = new Set()): Set<Node> {
  const live = new Set<Node>();
  const producer = (v: Value): Node | undefined => (cut.has(v) ? undefined : v.producer);
  const stack = wanted.map(producer).filter((n): n is Node => n !== undefined);
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    for (const v of n.inputs) {
      const p = producer(v);
      if (p && !live.has(p)) stack.push(p);
    }
  }
  return live;
}

class Writer implements Lowerer {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly extraConsts: OnnxTypes.ITensorProto[] = [];
  readonly used = new Set<string>();
  /** Operator sets beyond ONNX's that the written nodes use (version 1 each). */
  readonly domains = new Set<string>();
  /** The output of the collective written last: the next one takes it as its ordering input (rules/collectives.ts). */
  private lastCollective: string | undefined;
  private counter = 0;
  /** Scope of the node being written: its ONNX nodes (lowered ones too) are named '<scope>/<Op>_<i>'. */
  private scope: string | undefined;

  constructor(private readonly graph: Graph, private readonly opset: number, readonly target: KernelTarget) {}

  node(node: Node): void {
    this.scope = node.scope;
    const def = OP_TABLE.get(node.opType);
    if (def?.lower) {
      def.lower(node, this);
      return;
    }
    this.op(node.opType, node.inputs.map((v) => v.name), node.attrs, node.outputs.map((v) => v.name));
  }

  bindOutput(name: string, value: Value): void {
    this.scope = undefined;
    if (name === value.name) {
      this.used.add(name);
      return;
    }
    if (this.graph.constants.some((c) => c.value.name === name) || this.graph.nodes.some((n) => n.outputs.some((v) => v.name === name))) {
      throw new Error(`output name ${name} clashes with another value of graph ${this.graph.name}`);
    }
    this.op('Identity', [value.name], {}, [name]);
  }

  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, outputs: readonly string[] | number = 1, domain?: string): string[] {
    if (domain === undefined && this.opset >= 18 && AXES_INPUT_SINCE_18.has(opType) && attrs['axes']) {
      const { axes, ...rest } = attrs;
      return this.op(opType, [...inputs, this.ints(axes.value as number[])], rest, outputs);
    }
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.tmp()) : [...outputs];
    if (domain === COLLECTIVES_DOMAIN) {
      // Written in graph order, which every replica shares; the chain makes it the order they run in.
      if (this.lastCollective !== undefined) inputs = [...inputs, this.lastCollective];
      this.lastCollective = outs[0];
    }
    for (const i of inputs) this.used.add(i);
    if (domain !== undefined) this.domains.add(domain);
    this.nodes.push({
      opType,
      ...(domain !== undefined ? { domain } : {}),
      name: `${this.scope ? `${this.scope}/` : ''}${opType}_${this.nodes.length}`,
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([name, a]) => attributeProto(name, a)),
    });
    return outs;
  }

  ints(xs: readonly number[]): string {
    const name = this.tmp();
    this.extraConsts.push({ name, dims: [xs.length], dataType: ELEM_TYPE.int64, int64Data: [...xs] });
    return name;
  }

  scalar(x: number, dtype: DType): string {
    const name = this.tmp();
    const t: OnnxTypes.ITensorProto = { name, dims: [], dataType: ELEM_TYPE[dtype] };
    if (dtype === 'float32') t.floatData = [x];
    else if (dtype === 'float64') t.doubleData = [x];
    else if (dtype === 'int64') t.int64Data = [x];
    else if (dtype === 'float16') t.int32Data = [toHalfBits(x)]; // ONNX keeps float16 bit patterns in int32_data
    else t.int32Data = [x];
    this.extraConsts.push(t);
    return name;
  }

  floats(data: Float32Array, dims: readonly number[], dtype: 'float16' | 'float32' = 'float32'): string {
    if (dims.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`lowered constant: ${data.length} floats for shape [${dims.join(', ')}]`);
    const name = this.tmp();
    const stored = dtype === 'float16' ? toHalfArray(data) : data;
    this.extraConsts.push({ name, dims: [...dims], dataType: ELEM_TYPE[dtype], rawData: new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength) });
    return name;
  }

  private tmp(): string {
    return `__lowered_${this.counter++}`;
  }
}

function attributeProto(name: string, a: Attr): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'ints': return { name, type: T.INTS, ints: [...a.value] };
    case 'floats': return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function valueInfo(name: string, dtype: DType, shape: readonly number[]): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType: ELEM_TYPE[dtype], shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
}

function tensorProto(v: Value, data: ArrayBufferView): OnnxTypes.ITensorProto {
  if (sizeOf(v.shape) * bytesPer(v.dtype) !== data.byteLength) throw new Error(`constant ${v.name}: byte size mismatch`);
  return {
    name: v.name,
    dims: [...v.shape],
    dataType: ELEM_TYPE[v.dtype],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function bytesPer(dtype: DType): number {
  return { float16: 2, float32: 4, float64: 8, int64: 8, int32: 4, bool: 1 }[dtype];
}
