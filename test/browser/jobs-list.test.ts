// The jobs list in Chromium against the operator's real HTTP server (jobs supplied in memory): sorted from the
// keyboard by any column (ascending, then descending; jobs without the value last both ways), with the REST list's
// numbers, and following a change without a reload. Needs `make build` (dist/dashboard) and Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Page } from 'playwright-core';
import { OperatorMetrics } from '../../operator/controller/metrics.js';
import { makeJob } from '../../operator/reconcile/testing.js';
import { buildServer } from '../../operator/server/server.js';
import { launchChromium, type LaunchedBrowser } from './chromium.js';

let chromium: LaunchedBrowser;
before(async () => {
  chromium = await launchChromium();
});
after(async () => {
  await chromium?.close();
});

function job(name: string, loss: number | undefined, step: number): KubernetesObject {
  const j = makeJob({}, { phase: 'Running', replicas: { pending: 0, running: 2, succeeded: 0, failed: 0 },
    progress: { epoch: 1, step, totalSteps: 100, ...(loss === undefined ? {} : { loss }) } });
  j.metadata.name = name;
  return j as unknown as KubernetesObject;
}

const names = (page: Page): Promise<string[]> => page.locator('tbody tr [data-field="name"]').allTextContents();

test('the jobs list: keyboard sorting, the API\'s numbers, live changes', { timeout: 60_000 }, async () => {
  let jobs = [job('beta', 3.5, 30), job('alpha', 4.25, 20), job('gamma', undefined, 0)];
  const app = buildServer({
    view: { listJobs: () => jobs, getJob: () => undefined, podsOf: () => [], ready: () => true },
    metrics: new OperatorMetrics(),
    events: { list: async () => [] },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const page = await chromium.context.newPage();
  try {
    await page.goto(`${base}/namespaces/ml`);
    await page.locator('tbody tr').nth(2).waitFor();
    assert.deepEqual(await names(page), ['alpha', 'beta', 'gamma'], 'by name at first');
    const api = (await (await fetch(`${base}/api/v1/namespaces/ml/jobs`)).json()) as { items: { name: string; loss?: number }[] };
    for (const item of api.items) {
      const shown = await page.locator(`tr[data-job="ml/${item.name}"] [data-field="loss"]`).getAttribute('data-value');
      assert.equal(shown === null ? undefined : Number(shown), item.loss, item.name);
    }
    assert.equal(await page.locator('tr[data-job="ml/alpha"] [data-field="loss"]').textContent(), '4.2500');

    await page.locator('button[data-sort="loss"]').focus();
    await page.keyboard.press('Enter');
    assert.deepEqual(await names(page), ['beta', 'alpha', 'gamma']);
    assert.equal(await page.locator('th:has(button[data-sort="loss"])').getAttribute('aria-sort'), 'ascending');
    await page.locator('button[data-sort="loss"]').focus(); // the header was redrawn
    await page.keyboard.press('Space');
    assert.deepEqual(await names(page), ['alpha', 'beta', 'gamma'], 'descending, the job without a loss still last');
    assert.equal(await page.locator('th:has(button[data-sort="loss"])').getAttribute('aria-sort'), 'descending');

    jobs = [job('beta', 1.5, 90), ...jobs.slice(1)];
    await page.locator('tr[data-job="ml/beta"] [data-field="loss"][data-value="1.5"]').waitFor({ timeout: 5000 });
    assert.deepEqual(await names(page), ['alpha', 'beta', 'gamma'], 'the chosen order holds across refreshes');
  } finally {
    await page.close();
    await app.close();
  }
});
