// The one door to native code: every compiled addon of native/ (Gloo collectives, image kernels, the ONNX Runtime
// backend) is found and loaded here, once, with an error that names the command which builds it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AddonSpec {
  /** File name under native/build/Release. */
  readonly file: string;
  /** Environment variable that points at an explicit build (wins over the search). */
  readonly envVar: string;
  /** What builds it and what it needs, for the error when it is missing or does not load. */
  readonly buildHint: string;
}

export type AddonErrorCode = 'ADDON_MISSING' | 'ADDON_BROKEN';

/** An addon that is not built (ADDON_MISSING) or does not load (ADDON_BROKEN). */
export class AddonError extends Error {
  constructor(
    readonly code: AddonErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AddonError';
  }
}

/** Where an addon is looked for: the path in `envVar`, then native/build/Release/<file> under each ancestor of this
 * module (the source tree and dist/ both work). */
export function addonCandidates(spec: Pick<AddonSpec, 'file' | 'envVar'>, env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  const explicit = env[spec.envVar];
  if (explicit) found.push(resolve(explicit));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    found.push(join(dir, 'native', 'build', 'Release', spec.file));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return found;
}

const loaded = new Map<string, unknown>();

/** The file requireAddon loads (the first candidate that exists); ADDON_MISSING when none does. */
export function addonPath(spec: AddonSpec, searchPaths: readonly string[] = addonCandidates(spec)): string {
  const path = searchPaths.find((p) => existsSync(p));
  if (path === undefined) {
    throw new AddonError('ADDON_MISSING', `${spec.file} is not built: ${spec.buildHint}. Looked for: ${searchPaths.join(', ')}`);
  }
  return path;
}

/** The addon's exports, loaded once per path. `searchPaths` replaces the default search (tests). */
export function requireAddon<T>(spec: AddonSpec, searchPaths: readonly string[] = addonCandidates(spec)): T {
  const path = addonPath(spec, searchPaths);
  if (!loaded.has(path)) {
    try {
      loaded.set(path, createRequire(import.meta.url)(path));
    } catch (cause) {
      throw new AddonError('ADDON_BROKEN', `${path} does not load (${(cause as Error).message}): ${spec.buildHint}`, { cause });
    }
  }
  return loaded.get(path) as T;
}
