// Engine: one execution provider + thread setting; compiles graphs into Programs (ORT InferenceSessions).

import * as ort from 'onnxruntime-node';
import { Graph, op, type ToOnnxOptions } from '../graph/index.js';
import { prepareCudaProvider } from './cuda.js';
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
    if (provider === 'cuda') prepareCudaProvider();
    const engine = new Engine(provider, options.threads, options);
    const probe = new Graph('provider_probe');
    probe.output('y', op.identity(probe.input('x', [1])));
    const program = await engine.compile(probe);
    await program.release();
    return engine;
  }

  sessionOptions(): ort.InferenceSession.SessionOptions {
    return {
      executionProviders: [this.provider],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      ...(this.threads !== undefined ? { intraOpNumThreads: this.threads, interOpNumThreads: 1 } : {}),
      ...(this.options.profilePrefix ? { enableProfiling: true, profileFilePrefix: this.options.profilePrefix } : {}),
      ...(this.options.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } } : {}),
      logSeverityLevel: 3,
    };
  }

  async compile(graph: Graph, options: CompileOptions = {}): Promise<Program> {
    const bytes = graph.toOnnx({ col2im: this.provider === 'cpu', ...options });
    let session: ort.InferenceSession;
    try {
      const sessionOptions = this.sessionOptions();
      if (options.memoryArena === false) sessionOptions.enableCpuMemArena = false;
      session = await ort.InferenceSession.create(bytes, sessionOptions);
    } catch (e) {
      if (this.provider !== 'cpu' && looksLikeProviderFailure(e)) throw new ProviderUnavailableError(this.provider, e);
      throw new Error(`compiling graph ${graph.name} failed: ${(e as Error).message}`, { cause: e });
    }
    return new Program(session, graph, options.outputs ?? graph.outputs.map((o) => o.name));
  }
}

export interface CompileOptions extends ToOnnxOptions {
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
