// Execution providers: the names users pass, what ORT calls them, and the fix to print when one cannot load.

export type Provider = 'cpu' | 'webgpu' | 'cuda';

export const PROVIDERS: readonly Provider[] = ['cpu', 'webgpu', 'cuda'];

const FIX: Record<Provider, string> = {
  cpu: 'the CPU provider ships with onnxruntime-node; reinstall node_modules (npm ci)',
  cuda:
    'onnxruntime-node ships only the CPU provider unless its install script fetched the CUDA 12 libraries: build an ' +
    'image with network access and ONNXRUNTIME_NODE_INSTALL=cuda12 on an NVIDIA host, or run with --execution-provider cpu',
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
  constructor(readonly provider: Provider, cause: unknown) {
    const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(`execution provider '${provider}' cannot load (${why}). Fix: ${FIX[provider]}`, { cause });
    this.name = 'ProviderUnavailableError';
  }
}
