// Failure policy: a DDP rank cannot rejoin alone, so a failed rank restarts the whole gang (restartCount++, which
// is also the restart-generation label of the next gang) until backoffLimit, then the job is Failed.
// This only records the decision; the next reconcile deletes the old generation and, after the backoff, creates
// the new one (a decision is persisted before it is acted on, so a crash in between cannot lose a restart).
// What each failed pod means is failure-rules.ts: the job's spec.runPolicy.failurePolicy.rules, else the defaults
// (exit 2, the trainer refused its configuration or data: the job fails at once, a restart cannot help; exit 143, a
// planned stop, and evictions: restart uncounted; anything else, a lost peer included: restart, counted). The gang
// takes the gravest verdict: FailJob, then RestartJob, then Ignore.
// A pod of the running gang that someone else deletes restarts the gang too: the rank cannot rejoin alone. So does a
// pod that vanished without a terminating phase (force-deleted, or deleted while the operator was down): status
// remembers how many pods the gang had, and a cache never loses a pod that still exists.
// Deleted pods and Ignore verdicts restart the gang without counting against backoffLimit (status.failureRestarts
// counts what does): an eviction, a drain or preemption is not the job's fault, and a long job on a shared cluster
// meets several. The backoff delay grows with counted failures only.
// The trainer's termination message (its one-line reason) goes into the condition and the event.
import type { V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node';
import type { SimCLRJobStatus } from '../../api/schema.js';
import { generationOf, podName, rankOf } from '../names.js';
import { isTerminating, setCondition, trainerTerminated } from '../status.js';
import { emptyPlan, type Observed, type Plan } from '../types.js';
import { decisive } from './failure-rules.js';

export { CONFIG_OR_DATA_ERROR } from './failure-rules.js';

export const MAX_BACKOFF_SECONDS = 300;

/** Longest part of a termination message copied into a condition (the kubelet keeps up to 4096 bytes). */
const MAX_REASON_CHARS = 1024;

const terminatedOf = trainerTerminated;

/** The trainer's own reason (its termination message), as one line. */
function trainerReason(term: V1ContainerStateTerminated | undefined): string | undefined {
  const lines = (term?.message ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // The trainer writes one line; a log tail (FallbackToLogsOnError) ends with the most telling one.
  const line = lines.find((l) => l.startsWith('simclr ')) ?? lines[lines.length - 1];
  return line === undefined ? undefined : line.slice(0, MAX_REASON_CHARS);
}

function describeFailure(pod: V1Pod): string {
  const term = terminatedOf(pod);
  const why = [pod.status?.reason, term?.reason, term?.exitCode !== undefined ? `exit code ${term.exitCode}` : undefined]
    .filter((x) => x !== undefined && x !== '')
    .join(', ');
  const reason = trainerReason(term);
  return `pod ${pod.metadata?.name} failed${why === '' ? '' : ` (${why})`}${reason === undefined ? '' : `: ${reason}`}`;
}

function failedNow(o: Observed, status: SimCLRJobStatus, reason: string, message: string): Plan {
  let s: SimCLRJobStatus = { ...status, phase: 'Failed', completionTime: o.now.toISOString() };
  s = setCondition(s, { type: 'Running', status: 'False', reason, message }, o.now);
  s = setCondition(s, { type: 'Restarting', status: 'False', reason, message }, o.now);
  s = setCondition(s, { type: 'Failed', status: 'True', reason, message }, o.now);
  const plan = emptyPlan(s);
  plan.events.push({ type: 'Warning', reason, message });
  return plan;
}

/** Pods of the current generation of this job (terminating ones included), by rank below replicas. */
function currentPods(o: Observed, status: SimCLRJobStatus): V1Pod[] {
  const gen = status.restartCount ?? 0;
  const ours = (p: V1Pod): boolean =>
    p.metadata?.ownerReferences?.some((r) => r.controller === true && r.uid === o.job.metadata.uid) ?? false;
  return o.pods.filter((p) => generationOf(p) === gen && (rankOf(p) ?? Infinity) < o.job.spec.replicas && ours(p));
}

/** Why pods of the current gang are gone or going, when someone else removed them (`kubectl delete pod`, with or
 * without --force, an eviction, a drain, preemption): the operator deletes current-generation pods only when
 * suspended or finished, where this policy does not run. */
function deletedByOthers(o: Observed, status: SimCLRJobStatus): string | undefined {
  const pods = currentPods(o, status);
  const terminating = pods.find(isTerminating);
  if (terminating !== undefined) return `pod ${terminating.metadata?.name} was deleted`;
  // The last status counted the gang's pods from the cache; fewer now means some vanished without a terminating phase.
  const c = o.job.status?.replicas;
  const counted = c === undefined ? 0 : c.pending + c.running + c.succeeded + c.failed;
  if (pods.length >= counted) return undefined;
  const present = new Set(pods.map(rankOf));
  const gone = Array.from({ length: o.job.spec.replicas }, (_, r) => r).filter((r) => !present.has(r))
    .map((r) => podName(o.job.metadata.name, r));
  return `pod ${gone.join(', ')} vanished (deleted without a grace period, or while the operator was away)`;
}

export function failurePolicy(o: Observed, status: SimCLRJobStatus, gang: Map<number, V1Pod>): Plan | undefined {
  const failed = [...gang.entries()].sort(([a], [b]) => a - b).map(([, p]) => p).filter((p) => p.status?.phase === 'Failed');
  const worst = decisive(o.job.spec.runPolicy.failurePolicy?.rules ?? [], failed);
  const what = worst === undefined ? '' : [describeFailure(worst.pod), worst.verdict.why].filter((x) => x !== '').join('; ');
  // A rank the rules fail the job for explains the others (they lost their peer): it goes first.
  if (worst?.verdict.action === 'FailJob') return failedNow(o, status, worst.verdict.reason, what);
  // A rank cannot rejoin a running gang alone: a deleted pod restarts the whole gang, and explains ranks that failed
  // for want of their peer.
  const deleted = deletedByOthers(o, status);
  if (deleted !== undefined) return restartOrFail(o, status, deleted, 'PodDeleted', false);
  if (worst === undefined) return undefined;
  return restartOrFail(o, status, what, worst.verdict.reason, worst.verdict.action === 'RestartJob');
}

/** Restarts so far that backoffLimit counts (jobs written before failureRestarts existed: every restart). */
const failuresOf = (status: SimCLRJobStatus): number => status.failureRestarts ?? status.restartCount ?? 0;

function restartOrFail(o: Observed, status: SimCLRJobStatus, what: string, reason: string, counts: boolean): Plan {
  const restarts = status.restartCount ?? 0;
  const failures = failuresOf(status);
  const limit = o.job.spec.runPolicy.backoffLimit;
  const now = o.now.toISOString();
  if (counts && failures >= limit) {
    return failedNow(o, status, 'BackoffLimitExceeded', `${what}; backoffLimit ${limit} reached after ${failures} ` +
      'restarts after failures');
  }
  const message = counts
    ? `${what}; restarting the gang (restart ${failures + 1} of ${limit})`
    : `${what}; restarting the gang (not counted against backoffLimit ${limit})`;
  // The new generation has no pods yet: the counts restart from zero (deletedByOthers compares against them).
  let s: SimCLRJobStatus = { ...status, phase: 'Restarting', restartCount: restarts + 1, lastRestartTime: now,
    failureRestarts: failures + (counts ? 1 : 0), replicas: { pending: 0, running: 0, succeeded: 0, failed: 0 } };
  s = setCondition(s, { type: 'Running', status: 'False', reason, message }, o.now);
  s = setCondition(s, { type: 'Restarting', status: 'True', reason, message }, o.now);
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
  // A restart after a deletion or a planned stop does not grow the delay; one after a failure does.
  const wait = restartBackoffSeconds(o.job.spec.runPolicy.backoffSeconds, failuresOf(status)) * 1000;
  return Math.max(0, Date.parse(status.lastRestartTime) + wait - o.now.getTime());
}
