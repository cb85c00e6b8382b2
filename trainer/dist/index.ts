/** The distributed transport: the only door to native/ (the Gloo addon). */
export { DIST_DEFAULTS, resolveDistConfig, type DistConfig, type DistEnv, type DistFlags } from './config.js';
export { DistError, type DistErrorCode } from './errors.js';
export { loadNative, type CollectiveArray } from './native.js';
export { ProcessGroup, type FloatArray, type ProcessGroupOptions } from './process-group.js';
export { freePort } from './free-port.js';
export { NcclGroup, ncclLibraries, ncclVersion } from './nccl.js';
