/**
 * NCCL collectives on tensors in CUDA memory: what the gradient-cache step sums gradients with when the provider is
 * CUDA (one GPU per rank), so they never leave the device; Gloo (process-group.ts) keeps the host-side collectives
 * (the embeddings' allgather, dL/dz, statistics) and carries NCCL's communicator id from rank 0 to the others.
 * NCCL and the CUDA runtime come from NVIDIA's wheels (`make cuda`, beside onnxruntime-node's library) and are opened
 * by the native ORT backend at run time.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NCCL_LIBRARY } from '../engine/cuda.js';
import { ortAddon, ortLibraryDir, type DeviceTensor, type NativeNcclGroup } from '../native/index.js';
import { DistError } from './errors.js';

/** Where `make cuda` puts the CUDA runtime, relative to libonnxruntime.so.1's folder (the wheels' layout). */
const CUDART = 'nvidia/cu13/lib/libcudart.so.13';

/** Absolute paths of NCCL and the CUDA runtime; a DistError naming `make cuda` when they are not installed. */
export function ncclLibraries(ortDir = ortLibraryDir()): { nccl: string; cudart: string } {
  const nccl = join(ortDir, NCCL_LIBRARY);
  const cudart = join(ortDir, CUDART);
  for (const lib of [nccl, cudart]) {
    if (!existsSync(lib)) throw new DistError('DIST_ADDON_MISSING', `${lib} is not installed: run \`make cuda\` (NCCL and CUDA from PyPI wheels)`);
  }
  return { nccl, cudart };
}

/** NCCL's version (e.g. 23007 for 2.30.7); loads the library, needs no GPU. */
export function ncclVersion(): number {
  const { nccl, cudart } = ncclLibraries();
  return ortAddon().ncclVersion(nccl, cudart);
}

/** What ProcessGroup contributes: rank 0's communicator id reaches every rank. */
export interface IdBroadcaster {
  readonly rank: number;
  readonly worldSize: number;
  broadcast<T extends Uint8Array>(data: T, root?: number): Promise<T>;
}

export class NcclGroup {
  private constructor(private readonly native: NativeNcclGroup) {}

  /** Joins every rank of `group` in one NCCL communicator on CUDA device `deviceId` (waits for all of them). */
  static async connect(group: IdBroadcaster, deviceId: number): Promise<NcclGroup> {
    const { nccl, cudart } = ncclLibraries();
    const addon = ortAddon();
    const id = group.rank === 0 ? addon.ncclUniqueId(nccl, cudart) : Buffer.alloc(128);
    const shared = await group.broadcast(new Uint8Array(id.buffer, id.byteOffset, id.byteLength), 0);
    try {
      return new NcclGroup(await addon.ncclConnect(nccl, cudart, Buffer.from(shared), group.rank, group.worldSize, deviceId));
    } catch (e) {
      const message = `NCCL could not connect rank ${group.rank} of ${group.worldSize} on CUDA device ${deviceId}: ${(e as Error).message}`;
      throw new DistError('DIST_RENDEZVOUS', `${message}. NCCL needs one GPU per rank with NVIDIA's driver >= 580 (CUDA 13)`, { cause: e });
    }
  }

  /** Sums the float32 CUDA tensors across ranks, in place. */
  async allreduceSumOnDevice(tensors: readonly DeviceTensor[]): Promise<void> {
    const feeds = new (ortAddon().NativeFeeds)();
    tensors.forEach((t, i) => feeds.tensor(`t${i}`, t));
    await this.native.allreduceSum(feeds);
  }

  destroy(): void {
    this.native.destroy();
  }
}
