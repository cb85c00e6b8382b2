// Makes ORT's CUDA provider loadable before a session asks for it. `make cuda` (scripts/cuda/install.sh) puts
// libonnxruntime_providers_{shared,cuda}.so and NVIDIA's libraries (nvidia/{cu13,cudnn,nccl}/lib, the wheels' layout)
// beside onnxruntime-node's libonnxruntime.so.1, where ORT looks for providers. The provider names cuBLAS, cuRAND and
// cudart by bare soname and has no RUNPATH, and opens cuDNN and NVRTC by bare name too, so they are preloaded here by
// absolute path in dependency order (what onnxruntime-gpu's preload_dlls() does): the dynamic loader then matches those
// names to the copies already loaded. Not LD_LIBRARY_PATH: glibc reads it only at process start, so every way the
// trainer starts (CLI, launch, pods, benches) would need a wrapper; not ld.so.conf.d: that needs root.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { ortLibraryDir } from '../native/index.js';
import { ProviderUnavailableError } from './providers.js';

/** Loaded in this order (each after what it links), relative to libonnxruntime.so.1's folder. */
export const CUDA_LIBRARIES: readonly string[] = [
  'nvidia/cu13/lib/libcudart.so.13',
  'nvidia/cu13/lib/libcublasLt.so.13',
  'nvidia/cu13/lib/libcublas.so.13',
  'nvidia/cu13/lib/libcurand.so.10',
  'nvidia/cu13/lib/libnvrtc.so.13',
  'nvidia/cudnn/lib/libcudnn.so.9',
];
export const PROVIDER_LIBRARIES: readonly string[] = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
/** Not preloaded: the native backend opens it for collectives. */
export const NCCL_LIBRARY = 'nvidia/nccl/lib/libnccl.so.2';
/** The NVIDIA driver's library: never ours to install; it comes with the driver (or the NVIDIA container toolkit). */
export const DRIVER_LIBRARY = 'libcuda.so.1';

const INSTALL_FIX = 'run `make cuda` (ONNX Runtime\'s CUDA provider and NVIDIA\'s CUDA 13 libraries from PyPI), or run with --execution-provider cpu';
const DRIVER_FIX =
  'run on a machine with an NVIDIA GPU and its driver >= 580 (CUDA 13; in Kubernetes: resources.gpu >= 1 on a node ' +
  "with NVIDIA's device plugin), or run with --execution-provider cpu";
// glibc's RTLD_NODELETE (os.constants.dlopen lacks it): see loadGlobal.
const RTLD_NODELETE = 0x1000;

/**
 * Checks the install, preloads the CUDA libraries and checks for the driver; throws ProviderUnavailableError with
 * the matching fix. Idempotent: a library already loaded is found again by the loader.
 */
export function prepareCudaProvider(dir: string = ortLibraryDir()): void {
  for (const lib of [...PROVIDER_LIBRARIES, ...CUDA_LIBRARIES]) {
    if (!existsSync(join(dir, lib))) throw new ProviderUnavailableError('cuda', `${lib} is not installed in ${dir}`, INSTALL_FIX);
  }
  for (const lib of CUDA_LIBRARIES) {
    const file = join(dir, lib);
    try {
      loadGlobal(file);
    } catch (e) {
      throw new ProviderUnavailableError('cuda', `${file} does not load: ${firstLine(e)}`, `reinstall it: ${INSTALL_FIX}`);
    }
  }
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const missing = CUDA_LIBRARIES.map((lib) => realpathSync(join(dir, lib))).filter((file) => !maps.includes(file));
  if (missing.length > 0) throw new Error(`preloading the CUDA libraries left ${missing.join(', ')} unloaded (process.dlopen changed?)`);
  try {
    loadGlobal(DRIVER_LIBRARY);
  } catch (e) {
    throw new ProviderUnavailableError('cuda', `no NVIDIA driver: ${firstLine(e)}`, DRIVER_FIX);
  }
}

/**
 * dlopen(file, RTLD_NOW | RTLD_GLOBAL) through Node: process.dlopen loads any shared object and then looks for an
 * addon's entry point, so a plain library loads and then fails with "did not self-register", and Node closes it;
 * RTLD_NODELETE keeps it loaded. Any other error (not found, a missing dependency) is the library's and is rethrown.
 */
function loadGlobal(file: string): void {
  try {
    process.dlopen({ exports: {} }, file, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
  } catch (e) {
    if (!(e instanceof Error && e.message.includes('did not self-register'))) throw e;
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
