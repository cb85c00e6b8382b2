// Program: one compiled graph (a native ORT session) plus the input/output signature it was built from.
// run() takes host arrays by name and returns host arrays; graph inputs not fed are read from a ParameterStore, where
// they may be host arrays or DeviceTensors. runDevice() keeps chosen outputs in the provider's memory.

import { sizeOf, type DType, type Graph, type Value } from '../graph/index.js';
import { bytesOf, ortAddon, type DeviceTensor, type Fetched, type NativeSession } from '../native/index.js';
import type { ParameterStore } from './params.js';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
/** A run's input: a host array, or a tensor already in the provider's memory. */
export type Feed = TensorData | DeviceTensor;

/** An output in host memory, with its ONNX element type. */
export interface HostTensor {
  readonly data: TensorData;
  readonly dims: readonly number[];
  readonly dtype: string;
}

interface InputSig {
  name: string;
  shape: readonly number[];
  dtype: DType;
}


export interface RunOutputs {
  /** Outputs left in the provider's memory. */
  kept: Record<string, DeviceTensor>;
  /** Outputs copied to the host. */
  fetched: Record<string, HostTensor>;
}

export class Program {
  readonly inputs: readonly InputSig[];
  readonly outputNames: readonly string[];

  constructor(
    private readonly session: NativeSession,
    graph: Graph,
    outputNames: readonly string[],
    private readonly profiling: boolean,
    /** Values another program computes, which this one takes as inputs (CompileOptions.cut). */
    cut: readonly Value[] = [],
  ) {
    // Values compiled in as initializers (CompileOptions.fixedInputs) are no longer inputs of the session.
    const fed = new Set(session.inputNames);
    this.inputs = [...graph.inputs, ...graph.params, ...cut].filter((v) => fed.has(v.name)).map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype }));
    this.outputNames = outputNames;
  }

  /** Runs once; every output comes back to the host, floats as Float32Array (other dtypes are converted). */
  async run(feeds: Readonly<Record<string, Feed>>, params?: ParameterStore): Promise<Record<string, Float32Array>> {
    const raw = await this.runRaw(feeds, params);
    const out: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(raw)) {
      out[name] = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
    }
    return out;
  }

  /** Runs once and returns every output in host memory with its element type. */
  async runRaw(feeds: Readonly<Record<string, Feed>>, params?: ParameterStore): Promise<Record<string, HostTensor>> {
    return (await this.runDevice(feeds, params, { fetch: this.outputNames })).fetched;
  }

  /** Runs once; `keep` outputs stay in the provider's memory, `fetch` outputs come to the host, others are dropped. */
  async runDevice(
    feeds: Readonly<Record<string, Feed>>,
    params: ParameterStore | undefined,
    outputs: { keep?: readonly string[]; fetch?: readonly string[] },
  ): Promise<RunOutputs> {
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.some((s) => s.name === name)) throw new Error(`program has no input named ${name}`);
    }
    const native = new (ortAddon().NativeFeeds)();
    for (const sig of this.inputs) {
      const value = feeds[sig.name] ?? params?.feed(sig.name);
      if (value === undefined) throw new Error(`program input ${sig.name} [${sig.shape.join(',')}] was neither fed nor found in the parameter store`);
      if (ArrayBuffer.isView(value)) {
        if (value.length !== sizeOf(sig.shape)) {
          throw new Error(`program input ${sig.name}: ${value.length} values fed, shape [${sig.shape.join(',')}] needs ${sizeOf(sig.shape)}`);
        }
        native.host(sig.name, sig.dtype, sig.shape, bytesOf(value));
      } else {
        if (sizeOf(value.shape) !== sizeOf(sig.shape)) {
          throw new Error(`program input ${sig.name}: a tensor of shape [${value.shape.join(',')}] fed, the graph needs [${sig.shape.join(',')}]`);
        }
        native.tensor(sig.name, value);
      }
    }
    const keep = outputs.keep ?? [];
    const fetch = outputs.fetch ?? [];
    const results = await this.session.run(native, [...keep.map((name) => ({ name, keep: true })), ...fetch.map((name) => ({ name, keep: false }))]);
    const kept: Record<string, DeviceTensor> = {};
    const fetched: Record<string, HostTensor> = {};
    for (const r of results) {
      if (r.tensor !== undefined) kept[r.name] = r.tensor;
      else fetched[r.name] = { data: typedView(r), dims: r.shape, dtype: r.dtype };
    }
    return { kept, fetched };
  }

  async release(): Promise<void> {
    // ORT writes the profile when profiling ends; the JS binding did that at release, and profile.ts expects it.
    if (this.profiling) this.session.endProfiling();
    this.session.release();
  }
}

function typedView(r: Fetched): TensorData {
  const bytes = r.data!;
  const { buffer, byteOffset, byteLength } = bytes;
  switch (r.dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'float64':
      return new Float64Array(buffer, byteOffset, byteLength / 8);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, byteLength / 8);
    case 'int32':
      return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'uint8':
    case 'bool':
      return bytes;
    default:
      throw new Error(`output ${r.name}: element type ${r.dtype} is not supported on the host`);
  }
}
