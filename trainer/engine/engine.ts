// Engine: one execution provider + its options; compiles graphs into Programs (native ORT sessions).

import { Graph, op, usesCollectives, type ToOnnxOptions } from '../graph/index.js';
import { ortAddon, type CollectiveGroup, type CudaSessionOptions, type NativeSessionConfig } from '../native/index.js';
import { CPU_FALLBACK_REFUSED, NoDeviceKernelError, nodesWithoutKernel } from './placement.js';
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
  /** The GPU to use (WebGPU adapter / CUDA device ordinal). */
  deviceId?: number;
  /** CUDA provider options (TF32, cuDNN search, memory limit, CUDA graphs). */
  cuda?: CudaSessionOptions;
  /** The process group of graphs that sum across replicas inside the graph (synchronized BatchNorm). */
  collectives?: CollectiveGroup;
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
    const probe = new Graph('provider_probe', provider);
    probe.output('y', op.identity(probe.input('x', [1])));
    const program = await engine.compile(probe);
    await program.release();
    return engine;
  }

  /** The GPU this engine computes on (0 for the CPU provider). */
  get deviceId(): number {
    return this.options.deviceId ?? 0;
  }

  /** The native session configuration every program of this engine is compiled with. */
  sessionConfig(overrides: Partial<NativeSessionConfig> = {}): NativeSessionConfig {
    return {
      provider: this.provider,
      ...(this.options.deviceId !== undefined ? { deviceId: this.options.deviceId } : {}),
      ...(this.threads !== undefined ? { threads: this.threads } : {}),
      ...(this.options.spinning === false ? { spinning: false } : {}),
      ...(this.options.profilePrefix ? { profilePrefix: this.options.profilePrefix } : {}),
      ...(this.options.cuda ? { cuda: this.options.cuda } : {}),
      ...overrides,
    };
  }

  async compile(graph: Graph, options: CompileOptions = {}): Promise<Program> {
    if (graph.target !== this.provider) {
      throw new Error(`graph ${graph.name} was built for the ${graph.target} provider's kernels, not ${this.provider}'s: build it as new Graph(name, engine.provider)`);
    }
    const bytes = graph.toOnnx(options);
    const collectives = usesCollectives(graph.nodes);
    if (collectives && this.options.collectives === undefined) {
      throw new Error(`graph ${graph.name} sums across replicas, but its engine was created without a process group (EngineOptions.collectives)`);
    }
    const config = this.sessionConfig({
      ...(options.memoryArena === false ? { cpuArena: false } : {}),
      ...(collectives ? { collectives: this.options.collectives } : {}),
    });
    const create = (model: Uint8Array) => ortAddon().createSession(Buffer.from(model.buffer, model.byteOffset, model.byteLength), config);
    let session;
    try {
      session = await create(bytes);
    } catch (e) {
      if (this.provider !== 'cpu' && CPU_FALLBACK_REFUSED.test((e as Error).message)) {
        // ORT's message names no node: find them, so the error says what cannot run there.
        // Each node compiles alone with this engine's configuration, without the profiler.
        const { profilePrefix: _profile, ...quiet } = config;
        const compilesAlone = async (model: Uint8Array): Promise<void> =>
          (await ortAddon().createSession(Buffer.from(model.buffer, model.byteOffset, model.byteLength), quiet)).release();
        throw new NoDeviceKernelError(graph.name, this.provider, await nodesWithoutKernel(graph, compilesAlone, options.outputs), e);
      }
      if (this.provider !== 'cpu' && isProviderFailure(e)) throw new ProviderUnavailableError(this.provider, e);
      throw new Error(`compiling graph ${graph.name} failed: ${(e as Error).message}`, { cause: e });
    }
    return new Program(session, graph, options.outputs ?? graph.outputs.map((o) => o.name), config.profilePrefix !== undefined, options.cut);
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

/** The native backend names the provider when registering it fails (a missing library, driver or adapter). */
function isProviderFailure(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return m.startsWith('execution provider ');
}
