// The native ONNX Runtime backend (native/ort, simclr_ort.node), loaded once on onnxruntime-node's own
// libonnxruntime.so.1 so that the JS binding (export, embed) and this backend share one ORT in the process.
// What it adds over the JS binding: IO binding with outputs kept in the provider's memory (DeviceTensor) and fed to
// later runs, provider options the binding cannot set (CUDA's TF32, cuDNN search, memory limit, CUDA graphs), the CPU
// fallback turned off for device providers, and counters of the bytes that cross between JS and the provider.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { requireAddon, type AddonSpec } from './addons.js';

/** A tensor in a provider's memory (host memory for the CPU provider, a GPU buffer for WebGPU and CUDA). */
export interface DeviceTensor {
  readonly shape: number[];
  readonly dtype: string;
  /** ORT's name for the memory: 'Cpu', 'WebGPU_Buffer', 'Cuda'. */
  readonly location: string;
  readonly byteLength: number;
}

export interface NativeFeeds {
  host(name: string, dtype: string, shape: readonly number[], bytes: Uint8Array): void;
  tensor(name: string, tensor: DeviceTensor): void;
}

export interface Fetched {
  name: string;
  dtype: string;
  shape: number[];
  data?: Uint8Array;
  tensor?: DeviceTensor;
}

export interface NativeSession {
  readonly inputNames: string[];
  readonly outputNames: string[];
  run(feeds: NativeFeeds, fetches: { name: string; keep: boolean }[]): Promise<Fetched[]>;
  endProfiling(): string;
  release(): void;
}

export interface CudaSessionOptions {
  tf32?: boolean;
  convAlgoSearch?: 'exhaustive' | 'heuristic' | 'default';
  memoryLimit?: number;
  cudaGraph?: boolean;
}

export interface NativeSessionConfig {
  provider?: string;
  deviceId?: number;
  threads?: number;
  spinning?: boolean;
  cpuArena?: boolean;
  profilePrefix?: string;
  cuda?: CudaSessionOptions;
  /** The process group a graph's collective operators (domain simclr.collectives) sum over. */
  collectives?: CollectiveGroup;
}

/** A Gloo process group as the ONNX Runtime backend finds it: the addon's file and the group's nativeId. */
export interface CollectiveGroup {
  addon: string;
  group: number;
}

export interface Traffic {
  /** Bytes of host arrays fed to sessions. */
  toProvider: number;
  /** Bytes of outputs fetched into host arrays. */
  toHost: number;
}

/** An NCCL communicator over CUDA tensors (native/ort/src/nccl.rs). */
export interface NativeNcclGroup {
  allreduceSum(tensors: NativeFeeds): Promise<void>;
  destroy(): void;
}

export interface OrtAddon {
  init(libraryPath: string): void;
  ncclVersion(ncclPath: string, cudartPath: string): number;
  ncclUniqueId(ncclPath: string, cudartPath: string): Buffer;
  ncclConnect(ncclPath: string, cudartPath: string, uniqueId: Buffer, rank: number, worldSize: number, deviceId: number): Promise<NativeNcclGroup>;
  createSession(model: Buffer, config: NativeSessionConfig): Promise<NativeSession>;
  NativeFeeds: new () => NativeFeeds;
  traffic(): Traffic;
  resetTraffic(): void;
}

const ORT: AddonSpec = { file: 'simclr_ort.node', envVar: 'SIMCLR_ORT_ADDON', buildHint: 'run `npm run build:native` (needs cargo)' };

/** The folder of onnxruntime-node's libonnxruntime.so.1 (its binding loads that library from there). */
export function ortLibraryDir(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

let initialised: OrtAddon | undefined;

/** The backend, loaded and initialised once; an AddonError naming the build command when it is not built. */
export function ortAddon(): OrtAddon {
  if (initialised !== undefined) return initialised;
  // onnxruntime-node's libonnxruntime.so.1: the library its binding loads.
  const lib = join(ortLibraryDir(), 'libonnxruntime.so.1');
  if (!existsSync(lib)) throw new Error(`onnxruntime-node's library is missing at ${lib}: reinstall node_modules (npm ci)`);
  const addon = requireAddon<OrtAddon>(ORT);
  addon.init(lib);
  initialised = addon;
  return addon;
}

/** A host array's bytes, for NativeFeeds.host (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
