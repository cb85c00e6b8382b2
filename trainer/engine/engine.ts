// Engine: one execution provider + thread setting; compiles graphs into Programs (ORT InferenceSessions).

import * as ort from 'onnxruntime-node';
import { Graph, op, type ToOnnxOptions } from '../graph/index.js';
import { CPU_FALLBACK_REFUSED, NoDeviceKernelError, nodesWithoutKernel } from './placement.js';
import { Program } from './program.js';
import { type Provider, ProviderUnavailableError, parseProvider } from './providers.js';

export interface EngineOptions {
  provider?: Provider;
  /** ORT intra-op threads (default: ORT's choice, all cores). */
  threads?: number;
  /** Write ORT's per-op profile (JSON) with this file prefix. */
  profilePrefix?: string;
  /** ORT's idle worker threads spin by default; false frees the core (and makes CPU-time measurements honest). */
  spinning?: boolean;
}

export class Engine {
  private constructor(readonly provider: Provider, readonly threads: number | undefined, private readonly options: EngineOptions) {}

  /** Checks the provider loads (by compiling a one-node graph) so a bad flag fails here, with its fix. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const provider = parseProvider(options.provider ?? 'cpu');
    if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
      throw new Error(`engine threads must be a positive integer, got ${options.threads}`);
    }
    const engine = new Engine(provider, options.threads, options);
    const probe = new Graph('provider_probe', provider);
    probe.output('y', op.identity(probe.input('x', [1])));
    const program = await engine.compile(probe);
    await program.release();
    return engine;
  }

  sessionOptions(): ort.InferenceSession.SessionOptions {
    const session: Record<string, unknown> = {};
    if (this.options.spinning === false) Object.assign(session, { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } });
    // ORT would put a node the device provider cannot run on the CPU without a word; make that a compile error.
    if (this.provider !== 'cpu') session['disable_cpu_ep_fallback'] = '1';
    return {
      executionProviders: [this.provider],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      ...(this.threads !== undefined ? { intraOpNumThreads: this.threads, interOpNumThreads: 1 } : {}),
      ...(this.options.profilePrefix ? { enableProfiling: true, profileFilePrefix: this.options.profilePrefix } : {}),
      ...(Object.keys(session).length > 0 ? { extra: { session } } : {}),
      logSeverityLevel: 3,
    };
  }

  async compile(graph: Graph, options: CompileOptions = {}): Promise<Program> {
    if (graph.target !== this.provider) {
      throw new Error(`graph ${graph.name} was built for the ${graph.target} provider's kernels, not ${this.provider}'s: build it as new Graph(name, engine.provider)`);
    }
    const bytes = graph.toOnnx(options);
    const sessionOptions = this.sessionOptions();
    if (options.memoryArena === false) sessionOptions.enableCpuMemArena = false;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions);
    } catch (e) {
      if (this.provider !== 'cpu' && CPU_FALLBACK_REFUSED.test((e as Error).message)) {
        // ORT's message names no node: find them, so the error says what cannot run there.
        throw new NoDeviceKernelError(graph.name, this.provider, await nodesWithoutKernel(graph, sessionOptions, options.outputs), e);
      }
      if (this.provider !== 'cpu' && looksLikeProviderFailure(e)) throw new ProviderUnavailableError(this.provider, e);
      throw new Error(`compiling graph ${graph.name} failed: ${(e as Error).message}`, { cause: e });
    }
    return new Program(session, graph, options.outputs ?? graph.outputs.map((o) => o.name));
  }
}

export interface CompileOptions extends Omit<ToOnnxOptions, 'target'> {
  /**
   * false: the session frees its buffers after each run instead of keeping them in ORT's CPU arena (which holds its
   * peak for the session's lifetime). For sessions that run beside a bigger one, so peak memory is the largest
   * session's rather than the sum of all of them; costs allocation time on every run.
   */
  memoryArena?: boolean;
}

function looksLikeProviderFailure(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /provider|backend|shared library|adapter|cuda|webgpu|vulkan/i.test(m);
}
