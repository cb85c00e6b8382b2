// Writes crds/simclr.dev_simclrjobs.yaml from the zod schema. Run: npx tsx operator/api/gen-crd.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderCrdYaml } from './crd.js';

export const CRD_PATH = fileURLToPath(new URL('../../crds/simclr.dev_simclrjobs.yaml', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CRD_PATH, renderCrdYaml());
  process.stdout.write(`wrote ${CRD_PATH}\n`);
}
