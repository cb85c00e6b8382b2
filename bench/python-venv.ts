// The benchmarks' Python references (PyTorch, torchvision) run from one virtual environment, pip-installed from PyPI
// into ~/.cache/simclr-k8s/bench-venv on first use (PyPI's torch wheel brings CUDA libraries: ~5 GB, minutes).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const VENV = join(homedir(), '.cache', 'simclr-k8s', 'bench-venv');
export const PYTHON = join(VENV, 'bin', 'python');

/** Runs a command to completion; its stdout, or an error carrying its stderr. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Makes sure the venv imports `modules`, installing `packages` into it if not. */
export function ensurePython(modules: string[], packages: string[]): void {
  const ok = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
  if (ok) return;
  console.log(`installing ${packages.join(' and ')} from PyPI into ${VENV} (once; a few minutes)`);
  if (!existsSync(PYTHON)) run('python3', ['-m', 'venv', VENV]);
  run(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...packages]);
}

/** The last line of a script's stdout, parsed as JSON (the references print their result there). */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;
}
