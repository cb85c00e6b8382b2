// trainer/engine: runs graphs from trainer/graph on ONNX Runtime; parameters live here between steps.
export { Engine, type EngineOptions } from './engine.js';
export { Program, type TensorData } from './program.js';
export { NoDeviceKernelError, type OffDeviceNode } from './placement.js';
export { ParameterStore, Parameter } from './params.js';
export { type Provider, PROVIDERS, parseProvider, ProviderUnavailableError } from './providers.js';
export { moveToDevice, moveToHost } from './residency.js';
export type { CudaSessionOptions, DeviceTensor, Traffic } from '../native/index.js';
export { type Feed, type HostTensor, type RunOutputs } from './program.js';
