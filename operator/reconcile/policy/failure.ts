// Failure policy: a DDP rank cannot rejoin alone, so any failed rank restarts the whole gang (restartCount++, which
// is also the restart-generation label of the next gang) until backoffLimit, then the job is Failed.
// This only records the decision; the next reconcile deletes the old generation and, after the backoff, creates
// the new one (a decision is persisted before it is acted on, so a crash in between cannot lose a restart).
import type { V1Pod } from '@kubernetes/client-node';
import type { SimCLRJobStatus } from '../../api/schema.js';
import { setCondition } from '../status.js';
import { emptyPlan, type Observed, type Plan } from '../types.js';

export const MAX_BACKOFF_SECONDS = 300;

function describeFailure(pod: V1Pod): string {
  const term = pod.status?.containerStatuses?.find((c) => c.state?.terminated !== undefined)?.state?.terminated;
  const why = [pod.status?.reason, term?.reason, term?.exitCode !== undefined ? `exit code ${term.exitCode}` : undefined]
    .filter((x) => x !== undefined && x !== '')
    .join(', ');
  return `pod ${pod.metadata?.name} failed${why === '' ? '' : ` (${why})`}`;
}

export function failurePolicy(o: Observed, status: SimCLRJobStatus, gang: Map<number, V1Pod>): Plan | undefined {
  const failed = [...gang.entries()].sort(([a], [b]) => a - b).find(([, p]) => p.status?.phase === 'Failed');
  if (failed === undefined) return undefined;
  const restarts = status.restartCount ?? 0;
  const limit = o.job.spec.runPolicy.backoffLimit;
  const what = describeFailure(failed[1]);
  const now = o.now.toISOString();
  if (restarts >= limit) {
    const message = `${what}; backoffLimit ${limit} reached after ${restarts} restarts`;
    let s: SimCLRJobStatus = { ...status, phase: 'Failed', completionTime: now };
    s = setCondition(s, { type: 'Running', status: 'False', reason: 'BackoffLimitExceeded', message }, o.now);
    s = setCondition(s, { type: 'Restarting', status: 'False', reason: 'BackoffLimitExceeded', message }, o.now);
    s = setCondition(s, { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message }, o.now);
    const plan = emptyPlan(s);
    plan.events.push({ type: 'Warning', reason: 'BackoffLimitExceeded', message });
    return plan;
  }
  const message = `${what}; restarting the gang (restart ${restarts + 1} of ${limit})`;
  let s: SimCLRJobStatus = { ...status, phase: 'Restarting', restartCount: restarts + 1, lastRestartTime: now };
  s = setCondition(s, { type: 'Running', status: 'False', reason: 'PodFailed', message }, o.now);
  s = setCondition(s, { type: 'Restarting', status: 'True', reason: 'PodFailed', message }, o.now);
  const plan = emptyPlan(s);
  plan.events.push({ type: 'Warning', reason: 'GangRestart', message });
  return plan;
}

/** Seconds to wait after the restart decision before creating the new gang: base x 2^(n-1), capped. */
export function restartBackoffSeconds(baseSeconds: number, restartCount: number): number {
  if (restartCount <= 0) return 0;
  return Math.min(baseSeconds * 2 ** (restartCount - 1), MAX_BACKOFF_SECONDS);
}

/** Milliseconds until the new gang may be created, or 0 when it may be now. */
export function backoffRemainingMs(o: Observed, status: SimCLRJobStatus): number {
  if (status.lastRestartTime === undefined) return 0;
  const wait = restartBackoffSeconds(o.job.spec.runPolicy.backoffSeconds, status.restartCount ?? 0) * 1000;
  return Math.max(0, Date.parse(status.lastRestartTime) + wait - o.now.getTime());
}
