// Native code, one door (addons.ts): the Gloo collectives, the image kernels and the ONNX Runtime backend.
export { AddonError, addonCandidates, addonPath, requireAddon, type AddonErrorCode, type AddonSpec } from './addons.js';
export { glooAddon, glooAddonPath, type CollectiveArray, type GlooAddon, type NativeGroup, type NativeGroupOptions } from './gloo.js';
export { imageKernels, type NativeImageKernels } from './image-kernels.js';
export {
  bytesOf,
  ortAddon,
  ortLibraryDir,
  type CollectiveGroup,
  type CudaSessionOptions,
  type DeviceTensor,
  type Fetched,
  type NativeFeeds,
  type NativeNcclGroup,
  type NativeSession,
  type NativeSessionConfig,
  type OrtAddon,
  type Traffic,
} from './ort.js';
