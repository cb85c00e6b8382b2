// NCCL, the CUDA provider's collectives, on a machine without a GPU: the library from NVIDIA's wheel (`make cuda`)
// loads through the native backend and reports its version, rank 0 makes a communicator id, and joining a
// communicator fails with one line that says why (no driver), not a crash. The collectives themselves need GPUs
// (bench/gpu/ runs the CUDA path on one).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { DistError, NcclGroup, ncclLibraries, ncclVersion } from '../../trainer/collectives/index.js';

const installed = (() => {
  try {
    const { nccl, cudart } = ncclLibraries();
    return existsSync(nccl) && existsSync(cudart);
  } catch {
    return false;
  }
})();
// `make test` runs `make cuda` first; without it (a developer's partial setup) say how, except in CI where it must be there.
const skip = !installed && process.env['CI'] !== 'true' ? 'NCCL is not installed: run `make cuda`' : false;

test('NCCL from the cu13 wheel loads and reports version 2.x without a GPU', { skip }, () => {
  const version = ncclVersion();
  assert.ok(version >= 22000 && version < 30000, `ncclGetVersion gave ${version}`);
});

test('without a GPU, joining an NCCL communicator fails with one line naming the driver', { skip }, async () => {
  const alone = { rank: 0, worldSize: 1, broadcast: async <T extends Uint8Array>(data: T): Promise<T> => data };
  await assert.rejects(NcclGroup.connect(alone, 0), (e: Error) => {
    assert.ok(e instanceof DistError, String(e));
    assert.match(e.message, /^NCCL could not connect rank 0 of 1 on CUDA device 0: CUDA setDevice failed: .*driver.*\. NCCL needs one GPU per rank with NVIDIA's driver >= 580 \(CUDA 13\)$/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
});

test('without the wheels, the error names `make cuda`', () => {
  assert.throws(() => ncclLibraries('/nonexistent'), (e: Error) => e instanceof DistError && e.message.startsWith('/nonexistent/nvidia/nccl/lib/libnccl.so.2 is not installed: run `make cuda`'));
});
