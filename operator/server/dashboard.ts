// The dashboard at / on the API's own port: three page paths that all return the same bundled HTML shell (the browser
// code picks the view from the path), and its two assets. Pages need the same access as the data they show (a user
// who may not list jobs cluster-wide gets the API's 403 at /, and may use /namespaces/<ns>); assets only a valid
// token. Built by `make build` into dist/dashboard/ (scripts/build-dashboard.ts); read once at start.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Access } from './auth.js';
import { ApiError } from './errors.js';

export const DEFAULT_ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboard');

export interface DashboardDeps {
  /** Rejects with an ApiError (401/403/503) unless the request may have `access`; undefined = any valid token. */
  guard(req: FastifyRequest, access: Access | undefined): Promise<void>;
  nsParams: object;
  jobParams: object;
  assetsDir?: string;
}

const ASSETS = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;
type AssetName = keyof typeof ASSETS;

// Everything comes from this origin; uPlot sets element styles from script.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

function load(dir: string): { html: Buffer; assets: Map<AssetName, Buffer> } | undefined {
  try {
    const assets = new Map<AssetName, Buffer>();
    for (const name of Object.keys(ASSETS) as AssetName[]) assets.set(name, readFileSync(join(dir, name)));
    return { html: readFileSync(join(dir, 'index.html')), assets };
  } catch {
    return undefined;
  }
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A browser asking for a page gets the API's status and message as a small HTML page; other clients, the JSON. */
function sendError(req: FastifyRequest, reply: FastifyReply, e: ApiError): FastifyReply {
  if (!(req.headers.accept ?? '').includes('text/html')) return reply.code(e.statusCode).send(e.toJSON());
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e.statusCode}</title></head><body>` +
    `<h1>${e.statusCode} ${escapeHtml(e.code)}</h1><p>${escapeHtml(e.message)}</p></body></html>`;
  return reply.code(e.statusCode).type('text/html; charset=utf-8').header('content-security-policy', CSP).send(body);
}

export function registerDashboard(app: FastifyInstance, deps: DashboardDeps): void {
  const files = load(deps.assetsDir ?? DEFAULT_ASSETS_DIR);
  const page = (access: (req: FastifyRequest) => Access) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      await deps.guard(req, access(req));
      if (files === undefined) throw new ApiError('DASHBOARD_NOT_BUILT');
    } catch (err) {
      if (err instanceof ApiError) return sendError(req, reply, err);
      throw err;
    }
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
      .header('content-security-policy', CSP).send(files.html);
  };
  type NsReq = FastifyRequest<{ Params: { ns: string } }>;
  type JobReq = FastifyRequest<{ Params: { ns: string; name: string } }>;
  app.get('/', page(() => ({ kind: 'resource', verb: 'list' })));
  app.get('/namespaces/:ns', { schema: { params: deps.nsParams } },
    page((req) => ({ kind: 'resource', verb: 'list', namespace: (req as NsReq).params.ns })));
  app.get('/namespaces/:ns/jobs/:name', { schema: { params: deps.jobParams } },
    page((req) => ({ kind: 'resource', verb: 'get', namespace: (req as JobReq).params.ns, name: (req as JobReq).params.name })));
  for (const name of Object.keys(ASSETS) as AssetName[]) {
    app.get(`/assets/${name}`, async (req, reply) => {
      await deps.guard(req, undefined);
      const body = files?.assets.get(name);
      if (body === undefined) throw new ApiError('DASHBOARD_NOT_BUILT');
      return reply.type(ASSETS[name]).header('cache-control', 'no-cache').send(body);
    });
  }
}
