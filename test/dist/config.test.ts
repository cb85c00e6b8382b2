/** resolveDistConfig (flags vs env) and the addon loader's error, without processes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DistError, ProcessGroup, resolveDistConfig } from '../../trainer/collectives/index.js';

const isDistError = (code: string, message: RegExp) => (e: unknown): boolean =>
  e instanceof DistError && e.code === code && message.test(e.message);

test('defaults: one replica on loopback port 29300', () => {
  assert.deepEqual(resolveDistConfig({}, {}), { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 29300 });
});

test('env alone, flags alone, and both when equal', () => {
  const env = { RANK: '2', WORLD_SIZE: '4', MASTER_ADDR: 'job-0.job', MASTER_PORT: '29301' };
  const want = { rank: 2, worldSize: 4, masterAddr: 'job-0.job', masterPort: 29301 };
  assert.deepEqual(resolveDistConfig({}, env), want);
  const flags = { numReplicas: 4, distributedRank: 2, distributedMaster: 'job-0.job', distributedPort: 29301 };
  assert.deepEqual(resolveDistConfig(flags, {}), want);
  assert.deepEqual(resolveDistConfig(flags, env), want);
  assert.deepEqual(resolveDistConfig({ distributedRank: 3 }, { WORLD_SIZE: '4', RANK: '' }), { ...want, rank: 3, masterAddr: '127.0.0.1', masterPort: 29300 });
});

test('a flag and an env variable that disagree are an error naming both', () => {
  assert.throws(
    () => resolveDistConfig({ distributedRank: 1 }, { RANK: '2', WORLD_SIZE: '4' }),
    isDistError('DIST_CONFIG', /--distributed-rank=1 disagrees with env RANK=2/),
  );
  assert.throws(
    () => resolveDistConfig({ distributedMaster: 'a' }, { MASTER_ADDR: 'b' }),
    isDistError('DIST_CONFIG', /--distributed-master=a disagrees with env MASTER_ADDR=b/),
  );
});

test('bad values are errors naming their source', () => {
  assert.throws(() => resolveDistConfig({}, { RANK: 'x' }), isDistError('DIST_CONFIG', /env RANK=x is not a non-negative integer/));
  assert.throws(() => resolveDistConfig({}, { RANK: '4', WORLD_SIZE: '4' }), isDistError('DIST_CONFIG', /rank 4 .* world size 4/));
  assert.throws(() => resolveDistConfig({ numReplicas: 0 }, {}), isDistError('DIST_CONFIG', /at least 1/));
  assert.throws(() => resolveDistConfig({}, { MASTER_PORT: '70000' }), isDistError('DIST_CONFIG', /70000/));
});

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
