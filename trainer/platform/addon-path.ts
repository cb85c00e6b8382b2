// Where the compiled addons of native/ are looked for: an explicit path from the environment, then
// native/build/Release/<file> under each ancestor of this module (the source tree and dist/ both work).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function addonCandidates(file: string, envVar: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  const explicit = env[envVar];
  if (explicit) found.push(resolve(explicit));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    found.push(join(dir, 'native', 'build', 'Release', file));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return found;
}
