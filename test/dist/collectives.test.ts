/** Real processes on loopback: allreduce / allgather / broadcast / barrier give exact values for 2 and 4 ranks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePort, rankEnv, scriptArgs, spawnRank } from './helpers.js';

const RANK_SCRIPT = scriptArgs(import.meta.url, './fixtures/rank.ts');

/** What every rank must print, computed here independently of the code under test. */
function expected(w: number): Record<string, unknown> {
  const n = 1000;
  const ranks = Array.from({ length: w }, (_v, r) => r);
  const sumR = ranks.reduce((a, r) => a + r, 0);
  const at = (i: number): number => ranks.reduce((a, r) => a + r * n + i, 0);
  return {
    sum32: [at(0), at(1), at(n - 1)],
    sum32Type: 'Float32Array',
    sum64: [sumR + 0.25 * w, 0 - sumR, w * 1.5 * 2 ** 1000],
    sumI32: [sumR, w, 0 - ranks.reduce((a, r) => a + r * r, 0)],
    sumI32Type: 'Int32Array',
    mean: [sumR / w, (2 * sumR + w) / w],
    gathered: ranks.flatMap((r) => [r, r + 0.5, 0 - r]),
    gatheredU8: ranks.flatMap((r) => [r, 255 - r]),
    bcast: [Math.PI, w - 1],
    inputUnchanged: true,
    empty: [0, 0, 0],
    view: [0, 1, 2].map(() => (w * (w + 1)) / 2),
    pipelined: [(1 << w) - 1, ...ranks.map((r) => r * 10), 100],
  };
}

for (const worldSize of [2, 4]) {
  test(`${worldSize} ranks: collectives give exact values on every rank, and the processes exit 0`, { timeout: 60_000 }, async () => {
    const port = await freePort();
    const ranks = Array.from({ length: worldSize }, (_v, rank) =>
      spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, worldSize, port, { SCENARIO: 'collectives' }), killAfterMs: 45_000 }),
    );
    const results = await Promise.all(ranks.map((r) => r.done));
    const want = expected(worldSize);
    for (const res of results) {
      assert.equal(res.exitCode, 0, `rank ${res.rank} exited ${res.exitCode}: ${res.stderr}`);
      const { rank, ok, joinedMs: _joined, ...got } = res.report ?? {};
      assert.equal(rank, res.rank);
      assert.equal(ok, true);
      assert.deepEqual(got, want, `rank ${res.rank}`);
    }
  });
}

test('ranks that end without destroy() still exit, cleanly (code 0), three times over', { timeout: 90_000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const port = await freePort();
    const ranks = [0, 1, 2].map((rank) =>
      spawnRank(RANK_SCRIPT, { rank, env: rankEnv(rank, 3, port, { SCENARIO: 'no-destroy' }), killAfterMs: 30_000 }),
    );
    for (const res of await Promise.all(ranks.map((r) => r.done))) {
      assert.equal(res.exitCode, 0, `round ${round} rank ${res.rank}: ${res.signal} ${res.stderr}`);
    }
  }
});
