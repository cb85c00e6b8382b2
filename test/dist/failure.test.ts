/** Real processes on loopback: a dead or stuck peer fails every other rank's next collective, in bounded time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePort, rankEnv, scriptArgs, spawnRank } from './helpers.js';

const RANK_SCRIPT = scriptArgs(import.meta.url, './fixtures/rank.ts');
const COLLECTIVE_TIMEOUT_MS = 3000;
const SLACK_MS = 1500; // process scheduling on a loaded 2-core machine

test('killing one of 4 ranks mid-way makes every other rank exit non-zero, no hang', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const env = { SCENARIO: 'loop', SUICIDE_RANK: '1', SUICIDE_ITER: '20', COLLECTIVE_TIMEOUT_MS: String(COLLECTIVE_TIMEOUT_MS) };
  const ranks = [0, 1, 2, 3].map((rank) => spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, 4, port, env), killAfterMs: 45_000 }));
  const results = await Promise.all(ranks.map((r) => r.done));
  assert.equal(results[1].signal, 'SIGKILL');
  for (const res of results.filter((r) => r.rank !== 1)) {
    assert.equal(res.exitCode, 3, `rank ${res.rank}: ${res.stderr}`);
    assert.equal(res.report?.code, 'DIST_COLLECTIVE');
    assert.match(String(res.report?.message), new RegExp(`allreduce failed on rank ${res.rank} of 4`));
    const after = res.report?.failedAfterMs as number;
    t.diagnostic(`rank ${res.rank} failed after ${after} ms: ${String(res.report?.message)}`);
    assert.ok(after <= COLLECTIVE_TIMEOUT_MS + SLACK_MS, `rank ${res.rank} failed after ${after} ms`);
  }
});

test('a stuck peer (SIGSTOP) makes the others time out within the collective timeout', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const env = { SCENARIO: 'loop', SUICIDE_ITER: '20', COLLECTIVE_TIMEOUT_MS: String(COLLECTIVE_TIMEOUT_MS) };
  const ranks = [0, 1, 2].map((rank) => spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, 3, port, env), killAfterMs: 45_000 }));
  await Promise.all(ranks.map((r) => r.waitForStderr('reached 20')));
  const stuck = ranks[2].child;
  stuck.kill('SIGSTOP'); // alive, sockets open, silent: only the timeout can detect it
  const others = await Promise.all([ranks[0].done, ranks[1].done]);
  stuck.kill('SIGKILL');
  await ranks[2].done;
  for (const res of others) {
    assert.equal(res.exitCode, 3, `rank ${res.rank}: ${res.stderr}`);
    assert.equal(res.report?.code, 'DIST_COLLECTIVE');
    assert.match(String(res.report?.message), /[Tt]imed out/);
    const after = res.report?.failedAfterMs as number;
    t.diagnostic(`rank ${res.rank} failed after ${after} ms: ${String(res.report?.message)}`);
    assert.ok(after <= COLLECTIVE_TIMEOUT_MS + SLACK_MS, `rank ${res.rank} failed after ${after} ms`);
  }
});

test('ranks passing different sizes get a clear error on every rank, not an abort', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const env = { SCENARIO: 'mismatch', COLLECTIVE_TIMEOUT_MS: String(COLLECTIVE_TIMEOUT_MS) };
  const ranks = [0, 1, 2].map((rank) => spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, 3, port, env), killAfterMs: 45_000 }));
  for (const res of await Promise.all(ranks.map((r) => r.done))) {
    assert.equal(res.exitCode, 3, `rank ${res.rank}: ${res.signal} ${res.stderr}`);
    assert.equal(res.report?.code, 'DIST_COLLECTIVE');
    assert.match(
      String(res.report?.message),
      /ranks disagree .* rank 0 allreduce of 100 float32, rank 1 allreduce of 100 float32, rank 2 allreduce of 300 float32/,
    );
  }
});
