// Rank 0's progress endpoint for the operator: GET /progress (the contract's progress document as JSON)
// and GET /healthz. node:http only; every error is a coded JSON body.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_PATH, PROGRESS_PATH, type ProgressDocument } from '../contract/index.js';

export interface ProgressServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface ProgressServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  getProgress: () => ProgressDocument;
}

const ERRORS = {
  NOT_FOUND: { status: 404, message: 'no such path; try GET /progress or GET /healthz' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'only GET and HEAD are served' },
  INTERNAL: { status: 500, message: 'could not produce the progress document' },
} as const;
type ErrorCode = keyof typeof ERRORS;

function send(res: ServerResponse, status: number, body: unknown, head: boolean): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
  res.end(head ? undefined : json);
}

function sendError(res: ServerResponse, code: ErrorCode, head: boolean): void {
  const { status, message } = ERRORS[code];
  send(res, status, { error: { code, message } }, head);
}

function handle(req: IncomingMessage, res: ServerResponse, getProgress: () => ProgressDocument): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    sendError(res, 'METHOD_NOT_ALLOWED', false);
    return;
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === HEALTH_PATH) {
    send(res, 200, { status: 'ok' }, head);
  } else if (path === PROGRESS_PATH) {
    let doc: ProgressDocument;
    try {
      doc = getProgress();
    } catch {
      sendError(res, 'INTERNAL', head);
      return;
    }
    send(res, 200, doc, head);
  } else {
    sendError(res, 'NOT_FOUND', head);
  }
}

export async function startProgressServer(opts: ProgressServerOptions): Promise<ProgressServer> {
  const server = createServer((req, res) => handle(req, res, opts.getProgress));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`progress server cannot listen on port ${opts.port} (change --progress-port)`, { cause: err })));
    server.listen(opts.port, opts.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
