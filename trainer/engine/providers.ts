// Execution providers: the names users pass, what ORT calls them, and the fix to print when one cannot load.

export type Provider = 'cpu' | 'webgpu' | 'cuda';

export const PROVIDERS: readonly Provider[] = ['cpu', 'webgpu', 'cuda'];

const FIX: Record<Provider, string> = {
  cpu: 'the CPU provider ships with onnxruntime-node; reinstall node_modules (npm ci)',
  cuda:
    "install it with `make cuda` (ONNX Runtime's CUDA provider and NVIDIA's CUDA 13 libraries from PyPI; the trainer " +
    "image's CUDA variant has them), run on an NVIDIA GPU with driver >= 580, or run with --execution-provider cpu",
  webgpu:
    'WebGPU runs through Vulkan: install libvulkan.so.1 and libglvnd, set VK_DRIVER_FILES to the GPU vendor ICD ' +
    '(e.g. /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json); without a GPU, Mesa\'s lavapipe: make lavapipe, then ' +
    'source "$(scripts/lavapipe.sh)/env.sh" before node starts; or run with --execution-provider cpu',
};

export function parseProvider(name: string): Provider {
  if ((PROVIDERS as readonly string[]).includes(name)) return name as Provider;
  throw new Error(`unknown execution provider '${name}': expected one of ${PROVIDERS.join(', ')}`);
}

export class ProviderUnavailableError extends Error {
  /** `fix` replaces the provider's general fix where the cause is known (e.g. no NVIDIA driver). */
  constructor(readonly provider: Provider, cause: unknown, fix: string = FIX[provider]) {
    const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(`execution provider '${provider}' cannot load (${why}). Fix: ${fix}`, { cause });
    this.name = 'ProviderUnavailableError';
  }
}
