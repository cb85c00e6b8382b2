// The CUDA provider as `make cuda` installs it, on a machine without a GPU: every library it needs resolves through the
// preload (only the driver's libcuda.so.1 is missing), each library loads, NCCL reports its version, and the check
// itself notices a missing library. Needs `make cuda` (make test runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortLibraryDir } from '../native/index.js';
import { CUDA_LIBRARIES, DRIVER_LIBRARY, NCCL_LIBRARY, PROVIDER_LIBRARIES, prepareCudaProvider } from './cuda.js';
import { ProviderUnavailableError } from './providers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
const DIR = ortLibraryDir();

/** The sonames ldd reports "not found" for `lib` when `preload` (absolute paths) are loaded first, as the trainer does. */
function unresolved(lib: string, preload: readonly string[]): string[] {
  const r = spawnSync('ldd', [lib], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: preload.join(' '), LD_LIBRARY_PATH: '' } });
  assert.equal(r.error, undefined);
  return [...r.stdout.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]!).sort();
}

/** Every shared library under nvidia/ (the cuDNN sub-libraries, NVRTC's builtins, NCCL, ...). */
function nvidiaLibraries(dir: string): string[] {
  const root = join(dir, 'nvidia');
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\/lib\/lib[^/]+\.so[.\d]*$/.test(f))
    .map((f) => join(root, f))
    .sort();
}

function driverPresent(): boolean {
  return /\blibcuda\.so\.1\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '');
}

test('make cuda put the provider and the NVIDIA libraries beside libonnxruntime.so.1', () => {
  for (const lib of [...PROVIDER_LIBRARIES, ...CUDA_LIBRARIES, NCCL_LIBRARY]) assert.ok(existsSync(join(DIR, lib)), `${lib} in ${DIR}: run make cuda`);
  assert.ok(nvidiaLibraries(DIR).length >= 15, nvidiaLibraries(DIR).join('\n'));
});

test('with the preloaded CUDA libraries every library the provider links resolves (ldd), except the driver', () => {
  const preload = CUDA_LIBRARIES.map((l) => join(DIR, l));
  assert.deepEqual(unresolved(join(DIR, 'libonnxruntime_providers_cuda.so'), preload), driverPresent() ? [] : [DRIVER_LIBRARY]);
  assert.deepEqual(unresolved(join(DIR, 'libonnxruntime_providers_shared.so'), preload), []);
  // The rest find each other through their RUNPATH ($ORIGIN, and cuDNN's $ORIGIN/../../cu13/lib).
  for (const lib of nvidiaLibraries(DIR)) assert.deepEqual(unresolved(lib, []), [], relative(DIR, lib));
});

test('the ldd check notices a missing library: a copy of the install without cuRAND', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cuda-missing-'));
  try {
    for (const lib of [...PROVIDER_LIBRARIES, ...CUDA_LIBRARIES]) {
      mkdirSync(dirname(join(tmp, lib)), { recursive: true });
      if (!lib.endsWith('libcurand.so.10')) symlinkSync(realpathSync(join(DIR, lib)), join(tmp, lib));
    }
    const preload = CUDA_LIBRARIES.map((l) => join(tmp, l));
    assert.ok(unresolved(join(tmp, 'libonnxruntime_providers_cuda.so'), preload).includes('libcurand.so.10'));
    assert.throws(() => prepareCudaProvider(tmp), (e: unknown) => {
      assert.ok(e instanceof ProviderUnavailableError);
      assert.match(e.message, /^execution provider 'cuda' cannot load \(nvidia\/cu13\/lib\/libcurand\.so\.10 is not installed in .*\)\. Fix: run `make cuda`/);
      return true;
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('each NVIDIA library loads without a GPU (dlopen in a fresh process)', () => {
  const libs = nvidiaLibraries(DIR);
  const script = `const failed = [];
    for (const f of JSON.parse(process.argv[1])) {
      try { process.dlopen({ exports: {} }, f); } catch (e) { if (!/did not self-register/.test(e.message)) failed.push(e.message.split('\\n')[0]); }
    }
    console.log(JSON.stringify(failed));`;
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(libs)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout) as string[], [], `of ${libs.length}`);
});

test('NCCL loads and ncclGetVersion reports the pinned version without a GPU', () => {
  const pinned = /^nvidia-nccl-cu13==(\d+)\.(\d+)\.(\d+)/m.exec(readFileSync(join(ROOT, 'scripts', 'cuda', 'wheels.txt'), 'utf8'));
  assert.ok(pinned);
  const [major, minor, patch] = pinned.slice(1).map(Number) as [number, number, number];
  const py = 'import ctypes, sys\nv = ctypes.c_int()\nrc = ctypes.CDLL(sys.argv[1]).ncclGetVersion(ctypes.byref(v))\nprint(rc, v.value)';
  const r = spawnSync('python3', ['-c', py, join(DIR, NCCL_LIBRARY)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `0 ${major * 10000 + minor * 100 + patch}`, 'ncclSuccess and the version code');
});

test("preparing the provider preloads the CUDA libraries, then names the missing driver (or finds it)", () => {
  if (driverPresent()) {
    prepareCudaProvider();
    return;
  }
  assert.throws(() => prepareCudaProvider(), (e: unknown) => {
    assert.ok(e instanceof ProviderUnavailableError);
    assert.match(e.message, /^execution provider 'cuda' cannot load \(no NVIDIA driver: libcuda\.so\.1: cannot open shared object file.*\)\. Fix: run on a machine with an NVIDIA GPU and its driver >= 580 .*--execution-provider cpu$/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  const maps = readFileSync('/proc/self/maps', 'utf8');
  for (const lib of CUDA_LIBRARIES) assert.ok(maps.includes(realpathSync(join(DIR, lib))), `${lib} stays loaded`);
});

test('install.sh refuses an unknown argument; the CUDA image installs through it, not a download outside the registries', () => {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'cuda', 'install.sh'), '--link-everything'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), "install.sh: unknown argument '--link-everything': expected --copy or nothing");
  const dockerfile = readFileSync(join(ROOT, 'trainer', 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /cuda\) bash scripts\/cuda\/install\.sh --copy ;;/);
  assert.match(dockerfile, /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  assert.doesNotMatch(dockerfile, /cuda12/);
});
