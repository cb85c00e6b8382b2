// HTTPS for the REST API and /metrics (bearer tokens must not travel in clear text). The certificate comes from files
// (a mounted Secret, e.g. cert-manager's); a renewed Secret updates the files in place, so they are re-read when they
// change and new connections get the new certificate without a restart.
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Reads the pair, with an error naming the file that cannot be read. */
export function readTls(files: TlsFiles): TlsMaterial {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { cert: read(files.certFile, 'certificate (--tls-cert-file)'), key: read(files.keyFile, 'key (--tls-key-file)') };
}

const mtimes = (files: TlsFiles): string =>
  [files.certFile, files.keyFile].map((f) => {
    try {
      return String(statSync(f).mtimeMs);
    } catch {
      return 'missing';
    }
  }).join('/');

/** Re-reads the pair every `intervalMs` when either file changed; returns the stop function. A pair that fails to
 * load (a half-written update) keeps the previous certificate and is tried again at the next change. */
export function reloadOnChange(server: HttpsServer, files: TlsFiles, log: Logger, intervalMs = 10_000): () => void {
  let seen = mtimes(files);
  const timer = setInterval(() => {
    const now = mtimes(files);
    if (now === seen) return;
    seen = now;
    try {
      server.setSecureContext(readTls(files));
      log.info({ certFile: files.certFile }, 'TLS certificate reloaded');
    } catch (err) {
      log.warn({ err }, 'TLS certificate not reloaded; still serving the previous one');
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
