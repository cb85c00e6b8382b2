// Classifies errors from @kubernetes/client-node (ApiException: code + body, the body a JSON Status or its text).

interface StatusLike {
  code?: number;
  reason?: string;
  message?: string;
}

function statusOf(err: unknown): StatusLike {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as { code?: unknown; body?: unknown; statusCode?: unknown };
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      body = {};
    }
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as StatusLike;
  const code = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : b.code;
  return { code, reason: b.reason, message: b.message };
}

export const httpCode = (err: unknown): number | undefined => statusOf(err).code;
export const isNotFound = (err: unknown): boolean => statusOf(err).code === 404;
export const isAlreadyExists = (err: unknown): boolean => {
  const s = statusOf(err);
  return s.code === 409 && s.reason === 'AlreadyExists';
};
/** An optimistic-concurrency conflict (stale resourceVersion): retried by the queue, not an error worth logging. */
export const isConflict = (err: unknown): boolean => {
  const s = statusOf(err);
  return s.code === 409 && s.reason !== 'AlreadyExists';
};

/** The apiserver refused an object for what it is (422 Invalid, or 403 from an admission policy such as Pod
 * Security), not for who asked or when: the same request would be refused again. */
export const isRefusedObject = (err: unknown): boolean => {
  const s = statusOf(err);
  return s.code === 422 || (s.code === 403 && /violates PodSecurity|denied request|admission webhook|ValidatingAdmissionPolicy/.test(s.message ?? ''));
};

/** The apiserver's message when there is one, else the error's own. */
export function apiMessage(err: unknown): string {
  const s = statusOf(err);
  if (s.message !== undefined) return s.message;
  return err instanceof Error ? err.message : String(err);
}

/** Awaits p; false when it failed with NotFound (already gone), true when it succeeded. */
export async function ignoreNotFound(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return false;
  }
}

/** Awaits p; false when it failed with AlreadyExists, true when it succeeded. */
export async function ignoreAlreadyExists(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return false;
  }
}
