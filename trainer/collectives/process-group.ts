/**
 * A group of replicas that run collectives together: allreduce (sum, mean), allgather, broadcast, barrier.
 * Backed by the Gloo addon (native/) for worldSize > 1; a single replica needs no addon and no sockets.
 * Calls run in the order they are made (one native worker thread per group); every rank must make the same calls in
 * the same order. Inputs are copied when the call is made; results are new arrays of the input's type.
 */
import { DistError } from './errors.js';
import { AddonError, glooAddon, glooAddonPath, type CollectiveArray, type CollectiveGroup, type GlooAddon, type NativeGroup } from '../native/index.js';

/** Where this replica sits in the job (the CLI resolves it from the seed's flags and the torch.distributed env). */
export interface DistConfig {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
}

export interface ProcessGroupOptions extends DistConfig {
  /** How long rendezvous (reaching rank 0's store, every rank joining, the mesh) may take. */
  rendezvousTimeoutMs: number;
  /** How long one collective may take; a dead or stuck peer fails the collective on every other rank by then. */
  collectiveTimeoutMs: number;
  /** Address other ranks use to reach this one (default: this host's name; 127.0.0.1 if the master is loopback). */
  hostname?: string;
  /** Network interface for Gloo's transport (wins over hostname). */
  iface?: string;
}

export type FloatArray = Float32Array | Float64Array;

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function checkOptions(o: ProcessGroupOptions): void {
  const bad = (m: string): never => {
    throw new DistError('DIST_CONFIG', `ProcessGroup.init: ${m}`);
  };
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) bad(`worldSize ${o.worldSize} must be an integer >= 1`);
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize) bad(`rank ${o.rank} is not in [0, ${o.worldSize})`);
  if (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535) bad(`masterPort ${o.masterPort} is not in [1, 65535]`);
  for (const k of ['rendezvousTimeoutMs', 'collectiveTimeoutMs'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1 || o[k] > MAX_TIMEOUT_MS) bad(`${k} ${o[k]} must be an integer in [1, ${MAX_TIMEOUT_MS}]`);
  }
}

/** One replica alone: every collective is the identity (a copy, like the native results). */
class LocalGroup implements NativeGroup {
  async connect(): Promise<void> {}
  async allreduceSum<T extends CollectiveArray>(data: T): Promise<T> {
    return data.slice() as T;
  }
  async allgather<T extends CollectiveArray>(data: T): Promise<T> {
    return data.slice() as T;
  }
  async broadcast<T extends CollectiveArray>(data: T): Promise<T> {
    return data.slice() as T;
  }
  async barrier(): Promise<void> {}
  async destroy(): Promise<void> {}
}

/** The Gloo addon, its load failure in this layer's catalogue (DIST_ADDON_MISSING). */
function loadGloo(): GlooAddon {
  try {
    return glooAddon();
  } catch (cause) {
    if (cause instanceof AddonError) throw new DistError('DIST_ADDON_MISSING', cause.message, { cause });
    throw cause;
  }
}

function nativeMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** Gloo's message, plus what it usually means for a training job. */
function collectiveMessage(cause: unknown): string {
  const message = nativeMessage(cause);
  if (/Timed out/i.test(message)) {
    return `${message} (a peer did not take part within the collective timeout: stuck, dead without closing, or far behind)`;
  }
  if (/closed by peer|reset by peer|Broken pipe|Connection refused/i.test(message)) {
    return `${message} (a peer process died or left the group; the job restarts as a whole)`;
  }
  return message;
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  private destroyed = false;

  private constructor(
    private readonly backend: NativeGroup,
    options: ProcessGroupOptions,
  ) {
    this.rank = options.rank;
    this.worldSize = options.worldSize;
  }

  /** Joins the group: resolves once every rank is connected; rejects with DIST_RENDEZVOUS by the timeout. */
  static async init(options: ProcessGroupOptions): Promise<ProcessGroup> {
    checkOptions(options);
    if (options.worldSize === 1) return new ProcessGroup(new LocalGroup(), options);
    const addon = loadGloo();
    const backend = new addon.ProcessGroup({ ...options });
    try {
      await backend.connect();
    } catch (cause) {
      await backend.destroy().catch(() => undefined);
      throw new DistError('DIST_RENDEZVOUS', nativeMessage(cause), { cause });
    }
    return new ProcessGroup(backend, options);
  }

  /** Element-wise sum over all ranks. */
  allreduceSum<T extends CollectiveArray>(data: T): Promise<T> {
    return this.run('allreduce', () => this.backend.allreduceSum(data));
  }

  /** Element-wise mean over all ranks (sum, then divided by the world size here). */
  async allreduceMean<T extends FloatArray>(data: T): Promise<T> {
    const sum = await this.allreduceSum(data);
    const scale = 1 / this.worldSize;
    for (let i = 0; i < sum.length; i++) sum[i] *= scale;
    return sum;
  }

  /** Every rank's array, concatenated in rank order (length worldSize x input length; inputs must be equal-sized). */
  allgather<T extends CollectiveArray>(data: T): Promise<T> {
    return this.run('allgather', () => this.backend.allgather(data));
  }

  /** Rank `root`'s array on every rank; the others pass an array of the same type and length (contents ignored). */
  broadcast<T extends CollectiveArray>(data: T, root = 0): Promise<T> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(new DistError('DIST_CONFIG', `broadcast: root ${root} is not in [0, ${this.worldSize})`));
    }
    return this.run('broadcast', () => this.backend.broadcast(data, root));
  }

  barrier(): Promise<void> {
    return this.run('barrier', () => this.backend.barrier());
  }

  /**
   * This group as graphs' collective operators reach it (Engine option `collectives`): they queue on the same ordered
   * worker as the calls above. Undefined for one replica (nothing to sum with).
   */
  get inGraph(): CollectiveGroup | undefined {
    const id = this.backend.nativeId;
    return id === undefined ? undefined : { addon: glooAddonPath(), group: id };
  }

  /** Closes the mesh (and rank 0's store) after the calls already made; later calls reject. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.backend.destroy();
  }

  private async run<R>(op: string, call: () => Promise<R>): Promise<R> {
    if (this.destroyed) throw new DistError('DIST_DESTROYED', `${op}: the process group was destroyed`);
    try {
      return await call();
    } catch (cause) {
      // A new Error here carries the caller's JS stack; the native message (Gloo's) is kept verbatim.
      throw new DistError('DIST_COLLECTIVE', collectiveMessage(cause), { cause });
    }
  }
}
