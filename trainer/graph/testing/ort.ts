// Test helper: runs a Graph on ORT's CPU provider (one thread) without the engine, since trainer/graph may not
// import other trainer modules.

import * as ort from 'onnxruntime-node';
import type { Graph } from '../graph.js';
import type { ToOnnxOptions } from '../onnx.js';
import { KERNEL_TARGETS, type KernelTarget } from '../target.js';

export type Feeds = Record<string, Float32Array | Float64Array | BigInt64Array>;

export interface CompiledForTest {
  run(feeds: Feeds): Promise<Record<string, Float32Array | Float64Array>>;
}

/**
 * The provider rule tests build their graphs for and run on: SIMCLR_TEST_PROVIDER, default cpu (`make test` runs the
 * rule tests once more with webgpu, on lavapipe). A device session never falls back to the CPU, as in the engine.
 */
export const TEST_TARGET: KernelTarget = testTarget(process.env['SIMCLR_TEST_PROVIDER'] ?? 'cpu');

function testTarget(name: string): KernelTarget {
  if ((KERNEL_TARGETS as readonly string[]).includes(name)) return name as KernelTarget;
  throw new Error(`SIMCLR_TEST_PROVIDER=${name}: expected one of ${KERNEL_TARGETS.join(', ')}`);
}

/** Compiles on the graph's own target provider (lowered for options.target when given). */
export async function compileForTest(graph: Graph, outputs?: readonly string[], options: ToOnnxOptions = {}): Promise<CompiledForTest> {
  if (graph.target === 'cuda' && options.target === undefined) return compileOnCuda(graph, { ...options, ...(outputs ? { outputs } : {}) });
  const bytes = graph.toOnnx({ ...options, ...(outputs ? { outputs } : {}) });
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [graph.target],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    ...(graph.target === 'cpu' ? {} : { extra: { session: { disable_cpu_ep_fallback: '1' } } }),
  });
  const sigs = [...graph.inputs, ...graph.params];
  return {
    async run(feeds) {
      const t: Record<string, ort.Tensor> = {};
      for (const v of sigs) {
        const d = feeds[v.name];
        if (!d) throw new Error(`test feed ${v.name} missing`);
        t[v.name] = new ort.Tensor(v.dtype as 'float32', d as Float32Array, [...v.shape]);
      }
      const r = await session.run(t);
      const out: Record<string, Float32Array | Float64Array> = {};
      for (const [k, v] of Object.entries(r)) out[k] = v.data as Float32Array;
      return out;
    },
  };
}

let cudaEngine: Promise<import('../../engine/index.js').Engine> | undefined;

/**
 * The CUDA provider through the trainer's own backend (the GPU check runs these tests there): onnxruntime-node's
 * binding cannot turn TF32 off, and these tests compare with float32 and float64 references. Imported lazily, since
 * the engine builds on this package.
 */
async function compileOnCuda(graph: Graph, options: Omit<ToOnnxOptions, 'target'>): Promise<CompiledForTest> {
  const { Engine } = await import('../../engine/index.js');
  const engine = await (cudaEngine ??= Engine.create({ provider: 'cuda', threads: 1, cuda: { tf32: false } }));
  const program = await engine.compile(graph, options);
  return {
    async run(feeds) {
      const raw = await program.runRaw(feeds);
      return Object.fromEntries(Object.entries(raw).map(([name, t]) => [name, t.data as Float32Array | Float64Array]));
    },
  };
}

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32), so tests are reproducible. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
