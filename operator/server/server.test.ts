import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { JobView } from '../controller/controller.js';
import { OperatorMetrics } from '../controller/metrics.js';
import { podIn, makeJob } from '../reconcile/testing.js';
import type { Access, Authenticator, UserInfo } from './auth.js';
import { buildServer, type ServerDeps } from './server.js';

const k8s = (jobs: unknown[]): KubernetesObject[] => jobs as KubernetesObject[];

function fakeView(jobs: unknown[], pods: V1Pod[] = []): JobView & { jobs: KubernetesObject[] } {
  const v = {
    jobs: k8s(jobs),
    listJobs: (ns?: string) => v.jobs.filter((j) => ns === undefined || j.metadata?.namespace === ns),
    getJob: (ns: string, name: string) => v.jobs.find((j) => j.metadata?.namespace === ns && j.metadata?.name === name),
    podsOf: () => pods,
    ready: () => true,
  };
  return v;
}

const running = makeJob({}, { phase: 'Running', restartCount: 1, progress: { epoch: 4, loss: 3.25 } });
const deps = (over: Partial<ServerDeps> = {}): ServerDeps => ({
  view: fakeView([running], [podIn(running, 1, 'Running', 1), podIn(running, 0, 'Failed', 1)]),
  metrics: new OperatorMetrics(),
  events: { list: async () => [{ type: 'Normal', reason: 'PodsCreated', message: 'm', count: 1, lastTimestamp: 't' }] },
  ...over,
});

test('GET /api/v1/jobs lists summaries', async () => {
  const app = buildServer(deps());
  const res = await app.inject({ method: 'GET', url: '/api/v1/jobs' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().items, [{ namespace: 'ml', name: 'pre', phase: 'Running', replicas: 2, readyReplicas: 0,
    restartCount: 1, epoch: 4, epochs: 100, loss: 3.25, createdAt: '', valid: true }]);
  const other = await app.inject({ method: 'GET', url: '/api/v1/namespaces/other/jobs' });
  assert.deepEqual(other.json().items, []);
});

test('GET one job: spec summary, status, per-rank pod state in rank order, recent events', async () => {
  const res = await buildServer(deps()).inject({ method: 'GET', url: '/api/v1/namespaces/ml/jobs/pre' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.spec.training.batchSize, 64);
  assert.equal(body.status.progress.epoch, 4);
  assert.deepEqual(body.pods.map((p: { name: string }) => p.name), ['pre-0', 'pre-1']);
  assert.deepEqual(body.pods[0], { name: 'pre-0', rank: 0, restartGeneration: 1, phase: 'Failed', reason: 'Error',
    exitCode: 3 });
  assert.equal(body.events[0].reason, 'PodsCreated');
});

test('unknown job and bad paths get coded 4xx JSON errors', async () => {
  const app = buildServer(deps());
  const missing = await app.inject({ method: 'GET', url: '/api/v1/namespaces/ml/jobs/nope' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'JOB_NOT_FOUND');
  assert.match(missing.json().error.message, /ml\/nope/);
  const route = await app.inject({ method: 'GET', url: '/api/v2/whatever' });
  assert.equal(route.statusCode, 404);
  assert.equal(route.json().error.code, 'ROUTE_NOT_FOUND');
  const bad = await app.inject({ method: 'GET', url: '/api/v1/namespaces/Bad_NS/jobs' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'BAD_REQUEST');
});

test('healthz, readyz (503 until caches sync) and metrics', async () => {
  const view = { ...fakeView([running]), ready: () => false };
  const metrics = new OperatorMetrics({ phases: () => ['Running', 'Failed', 'Running'], queueDepth: () => 3,
    isLeader: () => true });
  const app = buildServer(deps({ view, metrics }));
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  const ready = await app.inject({ url: '/readyz' });
  assert.equal(ready.statusCode, 503);
  assert.equal(ready.json().error.code, 'NOT_READY');
  const m = (await app.inject({ url: '/metrics' })).body;
  assert.match(m, /simclr_jobs\{phase="Running"\} 2/);
  assert.match(m, /simclr_jobs\{phase="Failed"\} 1/);
  assert.match(m, /simclr_workqueue_depth 3/);
  assert.match(m, /simclr_reconcile_duration_seconds/);
  assert.match(m, /simclr_gang_restarts_total 0/);
});

test('SSE progress stream: one event per change, ends when the job finishes', async () => {
  const view = fakeView([makeJob({}, { phase: 'Running', progress: { epoch: 1 } })]);
  const app = buildServer(deps({ view, streamIntervalMs: 5 }));
  setTimeout(() => {
    view.jobs = k8s([makeJob({}, { phase: 'Running', progress: { epoch: 2 } })]);
    setTimeout(() => {
      view.jobs = k8s([makeJob({}, { phase: 'Succeeded', progress: { epoch: 2 } })]);
    }, 30);
  }, 30);
  const res = await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre/progress' });
  assert.equal(res.headers['content-type'], 'text/event-stream');
  const events = res.body.trim().split('\n\n').map((e) => JSON.parse(e.split('\ndata: ')[1]!));
  assert.deepEqual(events.map((e) => [e.phase, e.progress.epoch]), [['Running', 1], ['Running', 2], ['Succeeded', 2]]);
});

class FakeAuth implements Authenticator {
  asked: Access[] = [];
  constructor(private readonly allow: boolean, private readonly down = false) {}
  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (this.down) throw new Error('ECONNREFUSED');
    return token === 'good' ? { username: 'alice', groups: [] } : undefined;
  }
  async authorize(_u: UserInfo, access: Access): Promise<boolean> {
    this.asked.push(access);
    return this.allow;
  }
}

test('auth: no token 401, bad token 401, not allowed 403, allowed 200; probes stay open', async () => {
  const app = buildServer(deps({ auth: new FakeAuth(false) }));
  const none = await app.inject({ url: '/api/v1/jobs' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.json().error.code, 'UNAUTHENTICATED');
  const bad = await app.inject({ url: '/api/v1/jobs', headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.statusCode, 401);
  const forbidden = await app.inject({ url: '/api/v1/namespaces/ml/jobs', headers: { authorization: 'Bearer good' } });
  assert.equal(forbidden.statusCode, 403);
  assert.match(forbidden.json().error.message, /alice may not list simclrjobs in namespace ml/);
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  const metrics = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer good' } });
  assert.equal(metrics.statusCode, 403);

  const auth = new FakeAuth(true);
  const ok = await buildServer(deps({ auth })).inject({ url: '/api/v1/namespaces/ml/jobs/pre',
    headers: { authorization: 'Bearer good' } });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(auth.asked, [{ kind: 'resource', verb: 'get', namespace: 'ml', name: 'pre' },
    { kind: 'resource', verb: 'list', namespace: 'ml', resource: { group: '', resource: 'pods' } }]);
  assert.equal(ok.json().podsVisible, true);
  assert.equal(ok.json().pods.length, 2);
});

test('job detail: pod IPs, nodes and events only for callers who may list pods in the namespace', async () => {
  // May get the job, may not list pods.
  class JobsOnly extends FakeAuth {
    override async authorize(u: UserInfo, access: Access): Promise<boolean> {
      await super.authorize(u, access);
      return access.kind === 'resource' && access.resource === undefined;
    }
  }
  const res = await buildServer(deps({ auth: new JobsOnly(true) })).inject({ url: '/api/v1/namespaces/ml/jobs/pre',
    headers: { authorization: 'Bearer good' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().podsVisible, false);
  assert.deepEqual([res.json().pods, res.json().events], [[], []]);
  assert.equal(res.json().phase, 'Running');
});

test('auth: apiserver unreachable -> 503 AUTH_UNAVAILABLE, never an open door', async () => {
  const res = await buildServer(deps({ auth: new FakeAuth(true, true) })).inject({ url: '/api/v1/jobs',
    headers: { authorization: 'Bearer good' } });
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().error.code, 'AUTH_UNAVAILABLE');
});

test('GET .../preview/<view>.png: the grids the operator read, 404 before, 400 for another name; the job says which step', async () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
  let preview: { step: number; epoch: number; images: { augmentation1: Buffer; augmentation2: Buffer } } | undefined;
  const view = { ...fakeView([running]), preview: async () => preview };
  const app = buildServer(deps({ view }));
  const none = await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre/preview/augmentation1.png' });
  assert.deepEqual([none.statusCode, none.json().error.code], [404, 'PREVIEW_NOT_FOUND']);
  assert.equal((await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre' })).json().preview, undefined);
  preview = { step: 32, epoch: 2, images: { augmentation1: png, augmentation2: Buffer.from([1]) } };
  const res = await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre/preview/augmentation1.png' });
  assert.deepEqual([res.statusCode, res.headers['content-type'], [...res.rawPayload]], [200, 'image/png', [...png]]);
  assert.deepEqual((await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre' })).json().preview, { step: 32, epoch: 2 });
  assert.equal((await app.inject({ url: '/api/v1/namespaces/ml/jobs/pre/preview/passwd' })).statusCode, 400);
  assert.equal((await app.inject({ url: '/api/v1/namespaces/ml/jobs/nope/preview/augmentation1.png' })).statusCode, 404);
});
