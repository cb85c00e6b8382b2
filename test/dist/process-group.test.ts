/** A process group's checks and its one-replica form, without processes or sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DistError, ProcessGroup } from '../../trainer/collectives/index.js';

const isDistError = (code: string, message: RegExp) => (e: unknown): boolean =>
  e instanceof DistError && e.code === code && message.test(e.message);

test('one replica needs no addon or sockets: collectives are the identity', async () => {
  const pg = await ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 1, rendezvousTimeoutMs: 1, collectiveTimeoutMs: 1 });
  const x = Float32Array.from([1, 2]);
  assert.deepEqual(await pg.allreduceMean(x), x);
  assert.notEqual(await pg.allgather(x), x);
  await pg.destroy();
  await assert.rejects(pg.barrier(), isDistError('DIST_DESTROYED', /destroyed/));
});

test('invalid init options are rejected before any socket is opened', async () => {
  await assert.rejects(
    ProcessGroup.init({ rank: 2, worldSize: 2, masterAddr: 'h', masterPort: 1, rendezvousTimeoutMs: 1000, collectiveTimeoutMs: 1000 }),
    isDistError('DIST_CONFIG', /rank 2 is not in \[0, 2\)/),
  );
});
