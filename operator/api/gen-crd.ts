// Writes crds/simclr.dev_simclrjobs.yaml from the zod schema. Run: npx tsx operator/api/gen-crd.ts
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdYaml } from './crd.js';

/** crds/ at the repository root, found from this module upward (it runs from operator/api/ under tsx and from dist/operator/api/ after tsc). */
function repoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'crds'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no repository root (package.json + crds/) above ${from}`);
  }
}

export const CRD_PATH = join(repoRoot(dirname(fileURLToPath(import.meta.url))), 'crds', 'simclr.dev_simclrjobs.yaml');

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CRD_PATH, renderCrdYaml());
  process.stdout.write(`wrote ${CRD_PATH}\n`);
}
