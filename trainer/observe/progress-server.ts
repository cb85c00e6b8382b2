// Rank 0's progress endpoint for the operator: GET /progress (the contract's progress document as JSON),
// GET /preview/<view>.png (the newest augmentation grids) and GET /healthz. node:http only; every error is a coded JSON body. Closing waits (briefly) until a reader that
// polls has seen the last document, so the operator learns the final accuracy of a run that has just ended.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_PATH, PREVIEW_PATH, PREVIEW_VIEWS, PROGRESS_PATH, type PreviewView, type ProgressDocument } from '../contract/index.js';

export interface ProgressServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface ProgressServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  getProgress: () => ProgressDocument;
  /** The newest augmentation grid of a view (PNG), if one was drawn. */
  getPreview?: (view: PreviewView) => Uint8Array | undefined;
  /** Longest close() waits for a polling reader to fetch the last document. Default 60 s. */
  lingerMaxMs?: number;
}

/** What the server knows about its reader: when it last polled, how often it polls, what it last got. */
class ReaderWatch {
  private lastAt: number | undefined;
  gapMs: number | undefined;
  servedUpdatedAt: string | undefined;
  private waiter: { updatedAt: string; resolve: () => void } | undefined;

  served(doc: ProgressDocument): void {
    const now = Date.now();
    if (this.lastAt !== undefined) this.gapMs = now - this.lastAt;
    this.lastAt = now;
    this.servedUpdatedAt = doc.updatedAt;
    if (this.waiter?.updatedAt === doc.updatedAt) this.waiter.resolve();
  }

  /** Resolves when `doc` has been served, or after about two poll intervals (at most maxMs); at once without a reader. */
  async seen(doc: ProgressDocument, maxMs: number): Promise<void> {
    if (this.lastAt === undefined || this.servedUpdatedAt === doc.updatedAt) return;
    const waitMs = Math.min(maxMs, 2.5 * (this.gapMs ?? maxMs));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.waiter = { updatedAt: doc.updatedAt, resolve };
      timer = setTimeout(resolve, waitMs);
    });
    clearTimeout(timer);
  }
}

const ERRORS = {
  NOT_FOUND: { status: 404, message: 'no such path; try GET /progress or GET /healthz' },
  NO_PREVIEW: { status: 404, message: 'no augmentation grid drawn yet' },
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

function sendPng(res: ServerResponse, png: Uint8Array, head: boolean): void {
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.byteLength, 'cache-control': 'no-store' });
  res.end(head ? undefined : png);
}

const previewView = (path: string): PreviewView | undefined =>
  PREVIEW_VIEWS.find((v) => path === `${PREVIEW_PATH}/${v}.png`);

function handle(req: IncomingMessage, res: ServerResponse, opts: ProgressServerOptions, reader: ReaderWatch): void {
  const getProgress = opts.getProgress;
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
    if (!head) reader.served(doc);
  } else if (previewView(path) !== undefined) {
    const png = opts.getPreview?.(previewView(path)!);
    if (png === undefined) sendError(res, 'NO_PREVIEW', head);
    else sendPng(res, png, head);
  } else {
    sendError(res, 'NOT_FOUND', head);
  }
}

export async function startProgressServer(opts: ProgressServerOptions): Promise<ProgressServer> {
  const reader = new ReaderWatch();
  const server = createServer((req, res) => handle(req, res, opts, reader));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`progress server cannot listen on port ${opts.port} (change --progress-port)`, { cause: err })));
    server.listen(opts.port, opts.host ?? '0.0.0.0', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      let last: ProgressDocument | undefined;
      try {
        last = opts.getProgress();
      } catch {
        last = undefined;
      }
      if (last !== undefined) await reader.seen(last, opts.lingerMaxMs ?? 60_000);
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
