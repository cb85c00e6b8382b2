/**
 * Loads the Gloo addon built from native/ (the only module that touches it).
 * Build: `npm run build:native` (needs Debian's libgloo-dev).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import { addonCandidates } from '../platform/addon-path.js';
import { DistError } from './errors.js';

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
}

export interface NativeAddon {
  ProcessGroup: new (options: NativeGroupOptions) => NativeGroup;
}

const loaded = new Map<string, NativeAddon>();

/**
 * The addon, loaded once; a DistError naming the build command if it is missing or does not load.
 * `searchPaths` replaces the default search (tests).
 */
export function loadNative(searchPaths: readonly string[] = addonCandidates('simclr_gloo.node', 'SIMCLR_GLOO_ADDON')): NativeAddon {
  const paths = searchPaths;
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) {
    throw new DistError(
      'DIST_ADDON_MISSING',
      `the Gloo addon is not built: run \`npm run build:native\` (needs the Debian package libgloo-dev: ` +
        `apt-get install -y libgloo-dev). Looked for: ${paths.join(', ')}`,
    );
  }
  const hit = loaded.get(path);
  if (hit) return hit;
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    throw new DistError(
      'DIST_ADDON_MISSING',
      `the Gloo addon at ${path} does not load (${(cause as Error).message}): ` +
        'rebuild it with `npm run build:native`; at run time it needs libgloo0',
      { cause },
    );
  }
  loaded.set(path, addon);
  return addon;
}
