/** Real processes on loopback: joining late or early, wrong addresses, inconsistent ranks all end in bounded time. */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { freePort, rankEnv, scriptArgs, spawnRank, type RankResult } from './helpers.js';

const RANK_SCRIPT = scriptArgs(import.meta.url, './fixtures/rank.ts');

function assertOk(res: RankResult): void {
  assert.equal(res.exitCode, 0, `rank ${res.rank} exited ${res.exitCode} (${res.signal}): ${res.stderr} ${JSON.stringify(res.report)}`);
  assert.equal(res.report?.ok, true);
}

test('workers started before the master wait for it and join (env and flags)', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const env = { SCENARIO: 'join', RENDEZVOUS_TIMEOUT_MS: '20000' };
  // Rank 2 gets its place from the seed's flags only; the others from env.
  const flagArgs = ['--num-replicas=4', '--distributed-rank=2', '--distributed-master=127.0.0.1', `--distributed-port=${port}`];
  const early = [1, 2, 3].map((rank) =>
    rank === 2
      ? spawnRank(RANK_SCRIPT, { rank, env, args: flagArgs, killAfterMs: 45_000 })
      : spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, 4, port, env), killAfterMs: 45_000 }),
  );
  await Promise.all(early.map((r) => r.waitForStderr('joining')));
  await sleep(1500); // the workers are now retrying against a port nobody listens on
  const master = spawnRank(RANK_SCRIPT, { rank: 0, env: rankEnv(0, 4, port, env), killAfterMs: 45_000 });
  const results = await Promise.all([master, ...early].map((r) => r.done));
  for (const res of results) assertOk(res);
  for (const res of results.slice(1)) {
    assert.ok((res.report?.joinedMs as number) >= 1400, `rank ${res.rank} joined before the master existed?`);
  }
});

for (const host of ['127.0.0.1', 'no-such-host.invalid']) {
  test(`a wrong master address (${host}) fails within the rendezvous timeout, naming it`, { timeout: 30_000 }, async (t) => {
    const port = await freePort(); // nothing listens there
    const timeoutMs = 2000;
    const env = { ...rankEnv(1, 2, port, { SCENARIO: 'join', RENDEZVOUS_TIMEOUT_MS: String(timeoutMs) }), MASTER_ADDR: host };
    const res = await spawnRank(RANK_SCRIPT, { rank: 1, env, killAfterMs: 20_000 }).done;
    assert.equal(res.exitCode, 3, res.stderr);
    assert.equal(res.report?.code, 'DIST_RENDEZVOUS');
    assert.match(String(res.report?.message), new RegExp(`${host.replace(/\./g, '\\.')}:${port}`));
    const elapsed = res.report?.elapsedMs as number;
    t.diagnostic(`gave up after ${elapsed} ms: ${String(res.report?.message)}`);
    assert.ok(elapsed >= timeoutMs - 100 && elapsed <= timeoutMs + 1500, `gave up after ${elapsed} ms`);
  });
}

test('ranks that disagree on the world size fail with both sizes named', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const env = { SCENARIO: 'join', RENDEZVOUS_TIMEOUT_MS: '3000' };
  const master = spawnRank(RANK_SCRIPT, { rank: 0, env: rankEnv(0, 2, port, env), killAfterMs: 20_000 });
  const worker = spawnRank(RANK_SCRIPT, { rank: 1, env: rankEnv(1, 3, port, env), killAfterMs: 20_000 });
  const [m, w] = await Promise.all([master.done, worker.done]);
  assert.equal(w.exitCode, 3);
  assert.match(String(w.report?.message), /world size 3 but rank 0 has 2/);
  // The master never sees rank 1's mesh address: it fails by its own rendezvous deadline, naming the missing key.
  assert.equal(m.exitCode, 3);
  assert.equal(m.report?.code, 'DIST_RENDEZVOUS');
  assert.match(String(m.report?.message), /waiting .* for rank 1 \(key '1'\)/);
});

test('two replicas given the same rank: the second one is refused', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const env = { SCENARIO: 'join', RENDEZVOUS_TIMEOUT_MS: '3000' };
  const master = spawnRank(RANK_SCRIPT, { rank: 0, env: rankEnv(0, 3, port, env), killAfterMs: 20_000 });
  const first = spawnRank(RANK_SCRIPT, { rank: 1, env: rankEnv(1, 3, port, env), killAfterMs: 20_000 });
  await sleep(1000);
  const second = spawnRank(RANK_SCRIPT, { rank: 1, env: rankEnv(1, 3, port, env), killAfterMs: 20_000 });
  const results = await Promise.all([master.done, first.done, second.done]);
  for (const r of results) assert.equal(r.exitCode, 3, `${r.rank}: ${r.stderr}`);
  assert.ok(results.some((r) => /rank 1 was already taken/.test(String(r.report?.message))));
});

test('rank 0 on a port already in use fails at once, naming the port', { timeout: 30_000 }, async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, resolve));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const res = await spawnRank(RANK_SCRIPT, { rank: 0, env: rankEnv(0, 2, port, { SCENARIO: 'join' }), killAfterMs: 20_000 }).done;
    assert.equal(res.exitCode, 3, res.stderr);
    assert.equal(res.report?.code, 'DIST_RENDEZVOUS');
    assert.match(String(res.report?.message), new RegExp(`cannot host the TCP store on port ${port}`));
    assert.ok((res.report?.elapsedMs as number) < 1000);
  } finally {
    blocker.close();
  }
});
