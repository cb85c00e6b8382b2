// The Gloo addon (native/src, simclr_gloo.node): a process group whose collectives run on Gloo's TCP transport.
import { addonPath, requireAddon, type AddonSpec } from './addons.js';

/** Element types the addon handles; the result has the type of the input. */
export type CollectiveArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface NativeGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  rendezvousTimeoutMs: number;
  collectiveTimeoutMs: number;
  /** Address peers use to reach this rank; default: this host's name (127.0.0.1 when the master is loopback). */
  hostname?: string;
  /** Network interface for Gloo's transport (wins over hostname). */
  iface?: string;
}

/** The addon's ProcessGroup: every method queues on one worker thread, in call order. */
export interface NativeGroup {
  connect(): Promise<void>;
  allreduceSum<T extends CollectiveArray>(data: T): Promise<T>;
  allgather<T extends CollectiveArray>(data: T): Promise<T>;
  broadcast<T extends CollectiveArray>(data: T, root: number): Promise<T>;
  barrier(): Promise<void>;
  destroy(): Promise<void>;
  /** Names the group to the ONNX Runtime backend's collective operators (NativeSessionConfig.collectives). */
  readonly nativeId?: number;
}

export interface GlooAddon {
  ProcessGroup: new (options: NativeGroupOptions) => NativeGroup;
}

const GLOO: AddonSpec = {
  file: 'simclr_gloo.node',
  envVar: 'SIMCLR_GLOO_ADDON',
  buildHint: 'run `npm run build:native` (needs the Debian package libgloo-dev: apt-get install -y libgloo-dev; at run time libgloo0)',
};

/** The Gloo addon; an AddonError naming the build command when it is missing or does not load. `searchPaths`
 * replaces the default search (tests). */
export function glooAddon(searchPaths?: readonly string[]): GlooAddon {
  return requireAddon<GlooAddon>(GLOO, searchPaths);
}

/** The file of the Gloo addon this process loads: the ONNX Runtime backend opens it to call its collectives. */
export function glooAddonPath(): string {
  return addonPath(GLOO);
}
