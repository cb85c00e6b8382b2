// The job page in Chromium against the operator's real HTTP server (real socket, cached jobs supplied in memory):
// when the server goes away the page says it is stale and since when; when a server is back on the port the page
// reconnects by itself and shows the new numbers; once the job has finished the page stops reconnecting.
// Needs `make build` (dist/dashboard) and Chromium (`make browser-deps`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { OperatorMetrics } from '../../operator/controller/metrics.js';
import { makeJob, podIn } from '../../operator/reconcile/testing.js';
import { buildServer } from '../../operator/server/server.js';
import { launchChromium, type LaunchedBrowser } from './chromium.js';

let chromium: LaunchedBrowser;
before(async () => {
  chromium = await launchChromium();
});
after(async () => {
  await chromium?.close();
});

function jobAt(step: number, phase = 'Running'): KubernetesObject {
  const train = Array.from({ length: step }, (_, i) => ({ step: i + 1, loss: 6 - i / 100, lr: 0.1 }));
  return makeJob({}, { phase: phase as 'Running', progress: { step, totalSteps: 100, loss: train.at(-1)!.loss,
    history: { stride: 1, train, evals: [], resumes: [] } } }) as unknown as KubernetesObject;
}

/** The operator's server on `port` (0: any) serving `job()`; counts the progress streams it was asked for. */
async function serve(port: number, job: () => KubernetesObject): Promise<{ app: FastifyInstance; port: number; streams: () => number }> {
  let streams = 0;
  const app = buildServer({
    view: { listJobs: () => [job()], getJob: () => job(), podsOf: () => [podIn(makeJob(), 0, 'Running')], ready: () => true },
    metrics: new OperatorMetrics(),
    events: { list: async () => [] },
    streamIntervalMs: 100,
  });
  app.addHook('onRequest', async (req) => {
    if (req.url.endsWith('/progress')) streams++;
  });
  await app.listen({ port, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port, streams: () => streams };
}

async function stop(app: FastifyInstance): Promise<void> {
  app.server.closeAllConnections();
  await app.close();
}

test('a dropped stream: stale (with the time) until a server is back, then live with its numbers; final ends it', { timeout: 60_000 }, async () => {
  const a = await serve(0, () => jobAt(10));
  const page = await chromium.context.newPage();
  const conn = page.locator('#connection');
  await page.goto(`http://127.0.0.1:${a.port}/namespaces/ml/jobs/pre`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  await page.locator('figure[data-curve="loss"][data-points="10"]').waitFor({ timeout: 10_000 });

  await stop(a.app);
  await page.locator('#connection[data-state="stale"]').waitFor({ timeout: 10_000 });
  assert.match(await conn.textContent() ?? '', /^stale: no update since \d\d:\d\d:\d\d UTC, reconnecting…$/);
  assert.equal(await page.locator('main [data-field="step"]').getAttribute('data-value'), '10', 'the last values stay up');

  let current = jobAt(20);
  const b = await serve(a.port, () => current);
  try {
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 15_000 });
    await page.locator('main [data-field="step"][data-value="20"]').waitFor({ timeout: 5000 });
    await page.locator('figure[data-curve="loss"][data-points="20"]').waitFor({ timeout: 5000 });

    current = jobAt(100, 'Succeeded');
    await page.locator('#connection[data-state="final"]').waitFor({ timeout: 10_000 });
    const streams = b.streams();
    await page.waitForTimeout(4500); // longer than EventSource's 3 s reconnection delay
    assert.equal(b.streams(), streams, 'no reconnects once the job has finished');
  } finally {
    await page.close();
    await stop(b.app);
  }
});
