// The read-only REST API for dashboards: jobs, one job with its pods and events, a server-sent-events stream of
// progress, health, readiness and Prometheus metrics. A JSON schema per route; every error from errors.ts.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { JobView } from '../controller/controller.js';
import type { OperatorMetrics } from '../controller/metrics.js';
import { PREVIEW_VIEWS, type PreviewView } from '../../trainer/contract/index.js';
import type { Access, Authenticator } from './auth.js';
import { ApiError, errorSchema } from './errors.js';
import { registerDashboard } from './dashboard.js';
import type { EventLister } from './events.js';
import type { TlsMaterial } from './tls.js';
import { podState, specSummary, summarize } from './views.js';

export interface ServerDeps {
  view: JobView;
  metrics: OperatorMetrics;
  events: EventLister;
  /** undefined = --auth=none (local use only). */
  auth?: Authenticator;
  logger?: Logger;
  /** How often the SSE stream looks at the cache. */
  streamIntervalMs?: number;
  /** Serve HTTPS with this certificate and key (server/tls.ts); undefined = plain HTTP. */
  https?: TlsMaterial;
  /** Where the built dashboard is (default dist/dashboard). */
  dashboardDir?: string;
}

const NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const nsParams = {
  type: 'object',
  required: ['ns'],
  properties: { ns: { type: 'string', pattern: NAME, maxLength: 63 } },
} as const;
export const jobParams = {
  type: 'object',
  required: ['ns', 'name'],
  properties: { ns: nsParams.properties.ns, name: { type: 'string', pattern: NAME, maxLength: 63 } },
} as const;
const summarySchema = {
  type: 'object',
  properties: {
    namespace: { type: 'string' }, name: { type: 'string' }, phase: { type: 'string' },
    replicas: { type: 'integer' }, readyReplicas: { type: 'integer' }, restartCount: { type: 'integer' },
    epoch: { type: 'integer' }, epochs: { type: 'integer' }, step: { type: 'integer' }, totalSteps: { type: 'integer' },
    loss: { type: 'number' }, imagesPerSecond: { type: 'number' }, etaSeconds: { type: 'number' },
    knnTop1: { type: 'number' }, top1: { type: 'number' }, createdAt: { type: 'string' }, valid: { type: 'boolean' },
  },
} as const;
const listSchema = {
  response: { 200: { type: 'object', properties: { items: { type: 'array', items: summarySchema } } },
    '4xx': errorSchema, '5xx': errorSchema },
} as const;
const openObject = { type: 'object', additionalProperties: true } as const;

const TERMINAL = new Set(['Succeeded', 'Failed']);

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = h === undefined ? null : /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/** Authentication, then authorization for `access` (none when undefined: any valid token will do). */
async function check(auth: Authenticator | undefined, req: FastifyRequest, access: Access | undefined): Promise<void> {
  if (auth === undefined) return;
  const token = bearer(req);
  if (token === undefined) throw new ApiError('UNAUTHENTICATED');
  let allowed: boolean;
  try {
    const user = await auth.authenticate(token);
    if (user === undefined) throw new ApiError('UNAUTHENTICATED', 'token rejected by the apiserver');
    if (access === undefined) return;
    allowed = await auth.authorize(user, access);
    if (!allowed) {
      const what = access.kind === 'path' ? `get ${access.path}` : `${access.verb} simclrjobs` +
        (access.namespace === undefined ? ' at the cluster scope' : ` in namespace ${access.namespace}`);
      throw new ApiError('FORBIDDEN', `user ${user.username} may not ${what}`);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('AUTH_UNAVAILABLE', undefined, { cause: err });
  }
}

/** Whether the caller may also do `access` (false on 403 only; no token or an unreachable apiserver still fail). */
async function mayAlso(auth: Authenticator | undefined, req: FastifyRequest, access: Access): Promise<boolean> {
  try {
    await check(auth, req, access);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'FORBIDDEN') return false;
    throw err;
  }
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  // Request logs (every probe) only at warn and above; errors still carry the request.
  const logger = deps.logger?.child({ component: 'http' }, { level: 'warn' });
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger | undefined,
    ...(deps.https !== undefined && { https: deps.https }) }) as unknown as FastifyInstance;
  const { view, auth } = deps;

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('ROUTE_NOT_FOUND', `${req.method} ${req.url}`);
    void reply.code(e.statusCode).send(e.toJSON());
  });
  app.setErrorHandler((err: unknown, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if ((err as { validation?: unknown }).validation !== undefined) e = new ApiError('BAD_REQUEST', (err as Error).message);
    else {
      req.log.error({ err }, 'request failed');
      e = new ApiError('INTERNAL');
    }
    void reply.code(e.statusCode).send(e.toJSON());
  });

  registerDashboard(app, { guard: (req, access) => check(auth, req, access), nsParams, jobParams,
    assetsDir: deps.dashboardDir });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    if (!view.ready()) throw new ApiError('NOT_READY');
    return { status: 'ok' };
  });
  app.get('/metrics', async (req, reply) => {
    await check(auth, req, { kind: 'path', path: '/metrics' });
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/api/v1/jobs', { schema: listSchema }, async (req) => {
    await check(auth, req, { kind: 'resource', verb: 'list' });
    return { items: view.listJobs().map(summarize) };
  });

  app.get<{ Params: { ns: string } }>('/api/v1/namespaces/:ns/jobs', { schema: { params: nsParams, ...listSchema } },
    async (req) => {
      await check(auth, req, { kind: 'resource', verb: 'list', namespace: req.params.ns });
      return { items: view.listJobs(req.params.ns).map(summarize) };
    });

  app.get<{ Params: { ns: string; name: string } }>('/api/v1/namespaces/:ns/jobs/:name', {
    schema: {
      params: jobParams,
      response: {
        200: { type: 'object', properties: { ...summarySchema.properties, spec: openObject, status: openObject,
          pods: { type: 'array', items: openObject }, events: { type: 'array', items: openObject },
          preview: { type: 'object', properties: { step: { type: 'integer' }, epoch: { type: 'integer' } } },
          podsVisible: { type: 'boolean' } } },
        '4xx': errorSchema, '5xx': errorSchema,
      },
    },
  }, async (req) => {
    const { ns, name } = req.params;
    await check(auth, req, { kind: 'resource', verb: 'get', namespace: ns, name });
    const raw = view.getJob(ns, name);
    if (raw === undefined) throw new ApiError('JOB_NOT_FOUND', `${ns}/${name}`);
    const preview = await view.preview?.(ns, name);
    const base = { ...summarize(raw), spec: specSummary(raw), status: (raw as { status?: object }).status ?? {},
      ...(preview === undefined ? {} : { preview: { step: preview.step, epoch: preview.epoch } }) };
    // Pod IPs, nodes and events are what `kubectl get pods` shows: only for callers who may list pods there.
    const podsVisible = await mayAlso(auth, req,
      { kind: 'resource', verb: 'list', namespace: ns, resource: { group: '', resource: 'pods' } });
    if (!podsVisible) return { ...base, pods: [], events: [], podsVisible };
    const pods = view.podsOf(ns, name).map(podState).sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9));
    const events = await deps.events.list(ns, name, 20).catch((err: unknown) => {
      req.log.warn({ err }, 'events not listed');
      return [];
    });
    return { ...base, pods, events, podsVisible };
  });

  // The newest augmentation grids rank 0 drew (PNG), as the operator last read them.
  app.get<{ Params: { ns: string; name: string; image: `${PreviewView}.png` } }>(
    '/api/v1/namespaces/:ns/jobs/:name/preview/:image', {
      schema: { params: { ...jobParams, required: ['ns', 'name', 'image'], properties: { ...jobParams.properties,
        image: { type: 'string', enum: PREVIEW_VIEWS.map((v) => `${v}.png`) } } } },
    }, async (req, reply) => {
      const { ns, name, image } = req.params;
      await check(auth, req, { kind: 'resource', verb: 'get', namespace: ns, name });
      if (view.getJob(ns, name) === undefined) throw new ApiError('JOB_NOT_FOUND', `${ns}/${name}`);
      const png = (await view.preview?.(ns, name))?.images[image.slice(0, -4) as PreviewView];
      if (png === undefined) throw new ApiError('PREVIEW_NOT_FOUND', `${ns}/${name}`);
      return reply.type('image/png').header('cache-control', 'no-cache').send(png);
    });

  app.get<{ Params: { ns: string; name: string } }>('/api/v1/namespaces/:ns/jobs/:name/progress',
    { schema: { params: jobParams } }, async (req, reply) => {
      const { ns, name } = req.params;
      await check(auth, req, { kind: 'resource', verb: 'watch', namespace: ns, name });
      if (view.getJob(ns, name) === undefined) throw new ApiError('JOB_NOT_FOUND', `${ns}/${name}`);
      return stream(req, reply, view, ns, name, deps.streamIntervalMs ?? 1000);
    });

  return app;
}

/** Server-sent events: one `progress` event whenever phase or progress changes; ends when the job finishes or goes. */
function stream(req: FastifyRequest, reply: FastifyReply, view: JobView, ns: string, name: string,
  intervalMs: number): FastifyReply {
  const out = new PassThrough();
  let last = '';
  const tick = (): void => {
    const raw = view.getJob(ns, name);
    if (raw === undefined) {
      out.end('event: deleted\ndata: {}\n\n');
      return stop();
    }
    const s = summarize(raw);
    const status = (raw as { status?: { progress?: object } }).status;
    const data = JSON.stringify({ phase: s.phase, restartCount: s.restartCount, progress: status?.progress ?? {} });
    if (data !== last) {
      last = data;
      out.write(`event: progress\ndata: ${data}\n\n`);
    }
    if (TERMINAL.has(s.phase)) {
      out.end();
      stop();
    }
  };
  const timer = setInterval(tick, intervalMs);
  const stop = (): void => clearInterval(timer);
  req.raw.on('close', stop);
  tick();
  return reply
    .header('content-type', 'text/event-stream')
    .header('cache-control', 'no-cache')
    .send(out);
}
