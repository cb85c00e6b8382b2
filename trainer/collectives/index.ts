/** Collectives between replicas: a process group over Gloo (CPU) and NCCL communicators (CUDA), through trainer/native. */
export { DistError, type DistErrorCode } from './errors.js';
export type { CollectiveArray } from '../native/index.js';
export { ProcessGroup, type FloatArray, type ProcessGroupOptions } from './process-group.js';
export { freePort } from './free-port.js';
export { NcclGroup, ncclLibraries, ncclVersion } from './nccl.js';
