// Bundles the dashboard's browser code (operator/dashboard/, with uPlot and its CSS) into dist/dashboard/, which the
// operator serves at / (operator/server/dashboard.ts). Run by `make build` after tsc; nothing is fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..'); // dist/scripts -> repository root
const src = join(root, 'operator', 'dashboard');
const out = join(root, 'dist', 'dashboard');

mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(src, 'app.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  outdir: out,
  sourcemap: false,
  logLevel: 'warning',
});
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
process.stdout.write(`dashboard bundled into ${out}\n`);
