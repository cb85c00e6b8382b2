// The dashboard in a real browser (Debian's Chromium, headless, through playwright-core) against the local cluster:
// kube-apiserver + etcd + controller-manager + scheduler, the operator as its own process serving the page, and the
// test node agent running a 2-replica SimCLRJob as trainer processes on a small slice of Fashion-MNIST. The jobs list
// shows the job; the job page (reached from the keyboard) gains curve points while it trains and shows the REST API's
// numbers and the augmentation grids; after rank 1 is SIGKILLed it shows the gang restart (count, new generation, a resume marked on the
// curves); after Succeeded, the final accuracy and the exported encoder; and after an operator restart the curves
// are all still there (they live in the job's status, rank 0 being gone by then). Screenshots of both pages go to
// dist/screenshots/ (kept out of git). Needs `make build` (the bundled dashboard) and the control plane binaries.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { repoRoot } from '../agent/node-agent.js';
import { launchChromium, type LaunchedBrowser } from '../browser/chromium.js';
import { eventually } from '../controlplane/eventually.js';
import { requireBuild, startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { writeFashionMnistSubset } from './fashion-mnist-subset.js';
import { tinyJobManifest } from './tiny-job.js';
import { freePort } from '../../trainer/collectives/free-port.js';

const NS = 'dash';
const JOB = 'fmnist';
const TRAIN_IMAGES = 512;
const BATCH = 32;
const EPOCHS = 6;
const TOTAL_STEPS = EPOCHS * (TRAIN_IMAGES / BATCH); // 96
const CHECKPOINT_EVERY = 8;

let c: LocalCluster;
let chromium: LaunchedBrowser;
const root = repoRoot();
const shots = join(root, 'dist', 'screenshots');

before(async () => {
  requireBuild(root);
  if (!existsSync(join(root, 'dist', 'dashboard', 'app.js'))) throw new Error('dist/dashboard is missing: run `make build`');
  // The chart with auth and TLS off (values a local user may set): the browser reaches the page through the Service,
  // which balances over the chart's two replicas; each reads rank 0's augmentation grids when asked (it once failed
  // every other request, when only the leader had them).
  c = await startLocalCluster({ helmArgs: ['--set', 'operator.auth=none', '--set', 'tls.enabled=false',
    '--set', 'operator.progressIntervalSeconds=1'] });
  await c.cp.kubectl(['create', 'namespace', NS]);
  chromium = await launchChromium();
  mkdirSync(shots, { recursive: true });
});
after(async () => {
  await chromium?.close();
  await c?.stop();
});

const rest = async (path: string): Promise<any> => {
  const res = await fetch(`${c.operatorUrl}${path}`);
  assert.equal(res.status, 200, path);
  return res.json();
};
const jobApi = `/api/v1/namespaces/${NS}/jobs/${JOB}`;

/** The exact number behind a field the page shows (data-value), or undefined when it shows none. */
async function shown(page: Page, field: string): Promise<number | undefined> {
  const v = await page.locator(`main [data-field="${field}"]`).first().getAttribute('data-value');
  return v === null ? undefined : Number(v);
}
const points = async (page: Page, curve: string): Promise<number> =>
  Number(await page.locator(`figure[data-curve="${curve}"]`).getAttribute('data-points'));

/** Page and REST API agree on `fields` of status.progress at some moment (both move while training). */
async function agrees(page: Page, fields: string[], what: string): Promise<Record<string, number>> {
  return eventually(`the page and the REST API agree on ${what}`, async () => {
    const p = (await rest(jobApi)).status.progress ?? {};
    const values: Record<string, number> = {};
    for (const f of fields) {
      const onPage = await shown(page, f);
      if (p[f] === undefined || onPage !== p[f]) return undefined;
      values[f] = onPage as number;
    }
    return values;
  }, 30_000, 150);
}

test('the dashboard follows a 2-replica job through training, a killed rank and success, in Chromium', { timeout: 600_000 }, async (t) => {
  const started = Date.now();
  writeFashionMnistSubset(c.agent.claimDir(NS, 'data'), { train: TRAIN_IMAGES, test: 256 });
  await c.cp.kubectl(['apply', '-f', '-'], {
    input: tinyJobManifest({
      namespace: NS, job: JOB, dataClaim: 'data', masterPort: await freePort(), progressPort: await freePort(),
      batchSize: BATCH, epochs: EPOCHS, checkpointEvery: CHECKPOINT_EVERY,
    }),
  });
  const page = await chromium.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Script errors only: a refused connection while the operator restarts is what the stale indicator is for.
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(m.text()); });

  // The jobs list shows it; its link opens the job page from the keyboard.
  await page.goto(`${c.operatorUrl}/`);
  const row = page.locator(`tr[data-job="${NS}/${JOB}"]`);
  await row.waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'live');
  await row.locator('a[data-field="name"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/namespaces/${NS}/jobs/${JOB}`);

  // While it trains, the loss curve gains points, and the page shows what the REST API says.
  await page.locator('main [data-field="phase"][data-value="Running"]').waitFor({ timeout: 120_000 });
  const first = await eventually('loss points on the page', async () => ((await points(page, 'loss')) > 0 ? points(page, 'loss') : undefined), 120_000, 200);
  const later = await eventually('more loss points', async () => {
    const n = await points(page, 'loss');
    return n > first ? n : undefined;
  }, 60_000, 200);
  assert.equal(await shown(page, 'restartCount'), 0);
  const live = await agrees(page, ['step', 'loss', 'imagesPerSecond'], 'step, loss and images/s while training');
  t.diagnostic(`loss curve ${first} -> ${later} points; page = REST at step ${live.step}, loss ${live.loss}`);
  // The augmentation grids rank 0 drew, as images the browser decoded.
  const grids = page.locator('[data-section="preview"] img');
  await eventually('two decoded augmentation grids', async () => {
    const widths = await grids.evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    return widths.length === 2 && widths.every((w) => w > 0) ? true : undefined;
  }, 30_000, 200);
  const previewStep = Number(await page.locator('[data-section="preview"]').getAttribute('data-step'));
  // Whichever replica answers has read rank 0's grids too (each reads them when asked, at most once an interval).
  await eventually(`the REST API's preview at step ${previewStep} or later`, async () =>
    ((await rest(jobApi)).preview?.step >= previewStep ? true : undefined), 30_000, 200);

  // Kill rank 1 after a checkpoint: the page shows the gang restart.
  const ckptDir = join(c.agent.claimDir(NS, `${JOB}-checkpoints`), JOB);
  await eventually('a checkpoint at step 24 or later', () => (existsSync(ckptDir) &&
    readdirSync(ckptDir).some((f) => /^step-\d+\.json$/.test(f) && Number(f.slice(5, -5)) >= 3 * CHECKPOINT_EVERY) ? true : undefined), 120_000, 100);
  const rank1 = c.agent.podRun(NS, `${JOB}-1`)!.containers[0]!;
  assert.equal(rank1.exit, undefined, 'rank 1 ended before it could be killed: lengthen the run');
  const killedAt = (await rest(jobApi)).status.progress?.step;
  process.kill(rank1.child!.pid!, 'SIGKILL');
  await page.locator('main [data-field="restartCount"][data-value="1"]').waitFor({ timeout: 60_000 });
  await eventually('both ranks of restart generation 1 on the page', async () => {
    const gens = await page.locator('[data-section="ranks"] tbody tr td:nth-child(5)').allTextContents();
    return gens.length === 2 && gens.every((g) => g === '1') ? true : undefined;
  }, 60_000, 200);
  await page.locator('figure[data-curve="loss"] figcaption', { hasText: '1 resume marked' }).waitFor({ timeout: 60_000 })
    .catch(async (err: unknown) => {
      const h = (await rest(jobApi)).status.progress?.history;
      const caption = await page.locator('figure[data-curve="loss"] figcaption').textContent();
      throw new Error(`no resume on the curves: REST resumes ${JSON.stringify(h?.resumes)}, page "${caption}"`, { cause: err });
    });
  assert.match(await page.locator('[data-section="events"]').textContent() ?? '', /GangRestart/);

  // Succeeded: the final accuracy, equal to the API's; the stream ends and the page says these are final values.
  await page.locator('main [data-field="phase"][data-value="Succeeded"]').waitFor({ timeout: 300_000 });
  // Each replica answers from its own cache of the job: the one this request reaches may see the final status a
  // moment after the one that streamed it to the page.
  const done = await eventually('the REST API says Succeeded', async () => {
    const job = await rest(jobApi);
    return job.status.phase === 'Succeeded' ? job : undefined;
  }, 30_000, 200);
  const p = done.status.progress;
  assert.equal(p.step, TOTAL_STEPS);
  assert.ok(typeof p.knnTop1 === 'number' && typeof p.top1 === 'number', 'the final evaluation reached the status');
  await agrees(page, ['step', 'loss', 'knnTop1', 'top1', 'top5'], 'the final values');
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'final');
  assert.equal(await page.locator('main [data-field="encoder"]').getAttribute('data-value'), `${p.lastCheckpoint.replace(/\/[^/]*$/, '')}/encoder.onnx`);
  const history = p.history;
  assert.equal(history.resumes.length, 1);
  const resumedAt = history.resumes[0].step;
  assert.ok(resumedAt > 0 && resumedAt < TOTAL_STEPS && resumedAt % CHECKPOINT_EVERY === 0, `resumed at checkpoint step ${resumedAt}`);
  // One curve across both gangs: what the first did after its checkpoint was dropped, as the second redid it.
  const steps = history.train.map((q: { step: number }) => q.step);
  assert.deepEqual(steps, Array.from({ length: TOTAL_STEPS / history.stride }, (_, i) => (i + 1) * history.stride));
  // One evaluation per epoch across both gangs, but for the epoch whose evaluation the kill may have cut short (the
  // resumed gang starts the next epoch); the last after the last step.
  assert.ok(history.evals.length >= EPOCHS - 1 && history.evals.length <= EPOCHS, `${history.evals.length} evaluations`);
  assert.equal(history.evals.at(-1).step, TOTAL_STEPS);
  assert.equal(await points(page, 'accuracy'), history.evals.length);
  assert.equal(await points(page, 'loss'), history.train.length);
  assert.equal(history.train[0].step, history.stride, 'the curves start at the job\'s first step, not the second gang\'s');
  await page.screenshot({ path: join(shots, 'job.png'), fullPage: true });

  // The list shows the same final numbers as the API's list.
  await page.goto(`${c.operatorUrl}/namespaces/${NS}`);
  await row.locator('[data-field="phase"]', { hasText: 'Succeeded' }).waitFor({ timeout: 10_000 });
  const item = (await rest(`/api/v1/namespaces/${NS}/jobs`)).items[0];
  for (const f of ['loss', 'knnTop1', 'top1', 'step']) {
    assert.equal(Number(await row.locator(`[data-field="${f}"]`).getAttribute('data-value')), item[f], f);
  }
  await page.screenshot({ path: join(shots, 'jobs.png') });

  // An operator restart: rank 0 is gone, the new operator's caches start empty, and the curves are all still there.
  // The operator's process ends; the node agent restarts it in place (restartPolicy Always), as a kubelet would.
  const names = (await c.operatorPods()).map((o) => o.metadata!.name!);
  for (const n of names) process.kill(c.agent.podRun('default', n)!.containers[0]!.child!.pid!, 'SIGTERM');
  await eventually('the operators started again and ready', async () => {
    const pods = await c.operatorPods();
    return pods.every((o) => o.status?.containerStatuses?.[0]?.restartCount === 1 && o.status.containerStatuses[0].ready)
      && (await fetch(`${c.operatorUrl}/readyz`).catch(() => undefined))?.ok ? true : undefined;
  }, 90_000, 200);
  await page.goto(`${c.operatorUrl}/namespaces/${NS}/jobs/${JOB}`);
  await page.locator('main [data-field="phase"][data-value="Succeeded"]').waitFor({ timeout: 10_000 });
  assert.equal(await points(page, 'loss'), history.train.length);
  assert.equal(await points(page, 'accuracy'), history.evals.length);
  assert.equal(await shown(page, 'knnTop1'), p.knnTop1);
  assert.deepEqual(errors, [], 'no script errors on the pages');
  t.diagnostic(`${history.train.length} loss points (stride ${history.stride}), resumed at step ${resumedAt} after the kill at ~${killedAt}; final kNN ${p.knnTop1}, linear ${p.top1}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
});
