// Program: one compiled graph (an ORT InferenceSession) plus the input/output signature it was built from.
// run() takes typed arrays by name; graph inputs not fed are read from a ParameterStore.

import * as ort from 'onnxruntime-node';
import type { DType, Graph } from '../graph/index.js';
import type { ParameterStore } from './params.js';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

interface InputSig {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' };
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class Program {
  readonly inputs: readonly InputSig[];
  readonly outputNames: readonly string[];

  constructor(private readonly session: ort.InferenceSession, graph: Graph, outputNames: readonly string[]) {
    // Values compiled in as initializers (CompileOptions.fixedInputs) are no longer inputs of the session.
    const fed = new Set(session.inputNames);
    this.inputs = [...graph.inputs, ...graph.params].filter((v) => fed.has(v.name)).map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype }));
    this.outputNames = outputNames;
  }

  /** Runs once; float outputs come back as Float32Array (other dtypes are converted). */
  async run(feeds: Readonly<Record<string, TensorData>>, params?: ParameterStore): Promise<Record<string, Float32Array>> {
    const raw = await this.runRaw(feeds, params);
    const out: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(raw)) {
      out[name] = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
    }
    return out;
  }

  /** Runs once and returns ORT's tensors as they are. */
  async runRaw(feeds: Readonly<Record<string, TensorData>>, params?: ParameterStore): Promise<Record<string, ort.Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const sig of this.inputs) {
      const data = feeds[sig.name] ?? params?.get(sig.name)?.data;
      if (!data) throw new Error(`program input ${sig.name} [${sig.shape.join(',')}] was neither fed nor found in the parameter store`);
      if (data.length !== size(sig.shape)) {
        throw new Error(`program input ${sig.name}: ${data.length} values fed, shape [${sig.shape.join(',')}] needs ${size(sig.shape)}`);
      }
      ortFeeds[sig.name] = new ort.Tensor(ORT_TYPE[sig.dtype], data as never, sig.shape as number[]);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.some((s) => s.name === name)) throw new Error(`program has no input named ${name}`);
    }
    return (await this.session.run(ortFeeds)) as Record<string, ort.Tensor>;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
