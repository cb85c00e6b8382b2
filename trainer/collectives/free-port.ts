import { createServer } from 'node:net';

/**
 * A TCP port nothing listens on right now on 127.0.0.1 (the OS picks it). Another process may take it before the
 * caller binds it: fine for local replicas, tests and benchmarks, not a reservation.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
