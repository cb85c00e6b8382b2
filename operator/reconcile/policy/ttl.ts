// ttlSecondsAfterFinished: delete the job (its pods and Service go with it through owner references) once it has
// been finished for that long.
import type { SimCLRJobStatus } from '../../api/schema.js';
import type { Observed } from '../types.js';

export type TtlDecision = { delete: true } | { delete: false; afterMs?: number };

export function ttlPolicy(o: Observed, status: SimCLRJobStatus): TtlDecision {
  const ttl = o.job.spec.runPolicy.ttlSecondsAfterFinished;
  if (ttl === undefined || status.completionTime === undefined) return { delete: false };
  const left = Date.parse(status.completionTime) + ttl * 1000 - o.now.getTime();
  return left <= 0 ? { delete: true } : { delete: false, afterMs: left };
}
