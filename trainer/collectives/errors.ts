/** The errors of the distributed layer; each carries a stable `code` for callers and tests. */

export type DistErrorCode =
  | 'DIST_CONFIG' // inconsistent or invalid RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT or flags
  | 'DIST_ADDON_MISSING' // native/ was not built
  | 'DIST_RENDEZVOUS' // the store could not be reached, a rank never joined, ranks disagree
  | 'DIST_COLLECTIVE' // a collective failed: a dead or stuck peer, a timeout, a broken group
  | 'DIST_DESTROYED'; // the group was used after destroy()

export class DistError extends Error {
  readonly code: DistErrorCode;
  constructor(code: DistErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DistError';
    this.code = code;
  }
}
