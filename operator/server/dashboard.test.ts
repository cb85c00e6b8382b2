// The dashboard's routes through the real server (inject): the shell and its assets are served as built, and a
// request without the right token gets the API's own 401/403 on the pages and the assets as on their data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { OperatorMetrics } from '../controller/metrics.js';
import { makeJob } from '../reconcile/testing.js';
import type { Access, Authenticator, UserInfo } from './auth.js';
import { buildServer, type ServerDeps } from './server.js';

const job = makeJob({}, { phase: 'Running' }) as unknown as KubernetesObject;

function builtDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>SimCLRJobs</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(dir, 'app.js'), 'console.log("app");');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  return dir;
}

const deps = (over: Partial<ServerDeps> = {}): ServerDeps => ({
  view: { listJobs: () => [job], getJob: () => job, podsOf: () => [], ready: () => true },
  metrics: new OperatorMetrics(),
  events: { list: async () => [] },
  dashboardDir: builtDir(),
  ...over,
});

/** alice may do what `allowed` says; any other token is not valid. */
class Auth implements Authenticator {
  asked: Access[] = [];
  constructor(private readonly allowed: (a: Access) => boolean) {}
  async authenticate(token: string): Promise<UserInfo | undefined> {
    return token === 'alice' ? { username: 'alice', groups: [] } : undefined;
  }
  async authorize(_u: UserInfo, access: Access): Promise<boolean> {
    this.asked.push(access);
    return this.allowed(access);
  }
}

test('the pages return the built shell (no caching, a same-origin CSP); the assets their bytes and types', async () => {
  const app = buildServer(deps());
  for (const url of ['/', '/namespaces/ml', '/namespaces/ml/jobs/pre']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, url);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.body, /<title>SimCLRJobs<\/title>/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(res.headers['content-security-policy'] as string, /default-src 'self'/);
  }
  const js = await app.inject({ url: '/assets/app.js' });
  assert.deepEqual([js.statusCode, js.headers['content-type'], js.body], [200, 'text/javascript; charset=utf-8', 'console.log("app");']);
  const css = await app.inject({ url: '/assets/app.css' });
  assert.deepEqual([css.statusCode, css.headers['content-type']], [200, 'text/css; charset=utf-8']);
  assert.equal((await app.inject({ url: '/assets/app.js.map' })).statusCode, 404);
  assert.equal((await app.inject({ url: '/assets/..%2Findex.html' })).statusCode, 404, 'only the two assets, by name');
  assert.equal((await app.inject({ url: '/namespaces/Bad_NS' })).statusCode, 400);
});

test('no token: 401 on every page and asset, as on the API; a browser gets it as a page with the same message', async () => {
  const app = buildServer(deps({ auth: new Auth(() => true) }));
  for (const url of ['/', '/namespaces/ml', '/namespaces/ml/jobs/pre', '/assets/app.js', '/api/v1/jobs']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 401, url);
    assert.equal(res.json().error.code, 'UNAUTHENTICATED', url);
  }
  const html = await app.inject({ url: '/namespaces/ml/jobs/pre', headers: { accept: 'text/html,*/*' } });
  assert.equal(html.statusCode, 401);
  assert.match(html.headers['content-type'] as string, /^text\/html/);
  assert.match(html.body, /401 UNAUTHENTICATED.*a valid bearer token is required/s);
  assert.equal((await app.inject({ url: '/', headers: { authorization: 'Bearer mallory' } })).statusCode, 401);
});

test('authorization: each page asks what its data asks; 403 with the API\'s message; assets need only a valid token', async () => {
  // alice may read jobs in ml only.
  const auth = new Auth((a) => a.kind === 'resource' && a.namespace === 'ml');
  const app = buildServer(deps({ auth }));
  const as = { authorization: 'Bearer alice' };
  const root = await app.inject({ url: '/', headers: as });
  const api = await app.inject({ url: '/api/v1/jobs', headers: as });
  assert.deepEqual([root.statusCode, root.json()], [api.statusCode, api.json()]);
  assert.equal(root.statusCode, 403);
  assert.match(root.json().error.message, /alice may not list simclrjobs at the cluster scope/);
  const other = await app.inject({ url: '/namespaces/other/jobs/pre', headers: { ...as, accept: 'text/html' } });
  assert.equal(other.statusCode, 403);
  assert.match(other.body, /alice may not get simclrjobs in namespace other/);
  auth.asked = [];
  assert.equal((await app.inject({ url: '/namespaces/ml', headers: as })).statusCode, 200);
  assert.equal((await app.inject({ url: '/namespaces/ml/jobs/pre', headers: as })).statusCode, 200);
  assert.equal((await app.inject({ url: '/assets/app.css', headers: as })).statusCode, 200);
  assert.deepEqual(auth.asked, [
    { kind: 'resource', verb: 'list', namespace: 'ml' },
    { kind: 'resource', verb: 'get', namespace: 'ml', name: 'pre' },
  ]);
});

test('an operator built without the dashboard says so (503 with the fix), after the same auth checks', async () => {
  const app = buildServer(deps({ dashboardDir: join(tmpdir(), 'no-such-dashboard') }));
  for (const url of ['/', '/assets/app.js']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 503);
    assert.deepEqual([res.json().error.code, res.json().error.message],
      ['DASHBOARD_NOT_BUILT', 'the dashboard is not built into this operator: run `make build`']);
  }
  const denied = buildServer(deps({ dashboardDir: join(tmpdir(), 'no-such-dashboard'), auth: new Auth(() => true) }));
  assert.equal((await denied.inject({ url: '/' })).statusCode, 401);
});
