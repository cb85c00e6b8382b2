// What one failed pod does to the job: the first of spec.runPolicy.failurePolicy.rules it matches, else the
// defaults below. Pure: a pod in, a verdict out; failure.ts weighs the verdicts of a gang.
import type { V1Pod } from '@kubernetes/client-node';
import { EXIT_CONFIG_OR_DATA, EXIT_PEER_LOST, EXIT_STOPPED } from '../../../trainer/contract/index.js';
import type { FailureAction, FailureRule } from '../../api/schema.js';
import { trainerTerminated } from '../status.js';

export interface Verdict {
  action: FailureAction;
  /** The condition's and event's reason. */
  reason: string;
  /** Why, after the pod's own description: which rule decided, or what the default means. */
  why: string;
}

/** Reason of a job failed by a rank that exited 2. */
export const CONFIG_OR_DATA_ERROR = 'ConfigOrDataError';
/** Reason of a job failed, or a gang restarted uncounted, by a rule of the job's own. */
export const BY_RULE = { FailJob: 'PodFailurePolicy', RestartJob: 'PodFailed', Ignore: 'FailureIgnored' } as const;

type DefaultRule = FailureRule & { reason: string; why: string };

/** Without a rule of the job's: a trainer that refused its configuration or data fails the same way again; a rank
 * stopped by SIGTERM checkpointed first; an eviction or a drain is the node's doing, not the job's. Everything else
 * (75: a lost peer or master; 137: killed; OOMKilled) may pass with a restart, and counts against backoffLimit. */
export const DEFAULT_RULES: readonly DefaultRule[] = [
  { action: 'FailJob', onExitCodes: { operator: 'In', values: [EXIT_CONFIG_OR_DATA] }, reason: CONFIG_OR_DATA_ERROR,
    why: `not retried: the configuration or the data must change (exit code ${EXIT_CONFIG_OR_DATA})` },
  { action: 'Ignore', onExitCodes: { operator: 'In', values: [EXIT_STOPPED] }, reason: 'PlannedStop',
    why: 'stopped by SIGTERM after its checkpoint' },
  { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }], reason: 'PodDisrupted',
    why: 'disrupted (DisruptionTarget): the node\'s doing, not the job\'s' },
  { action: 'Ignore', onReasons: ['Evicted'], reason: 'PodDisrupted', why: 'evicted: the node\'s doing, not the job\'s' },
];
const OTHERWISE: Verdict = { action: 'RestartJob', reason: 'PodFailed', why: '' };

/** Whether `pod` matches every matcher `rule` gives. */
export function matches(rule: FailureRule, pod: V1Pod): boolean {
  const term = trainerTerminated(pod);
  if (rule.onExitCodes !== undefined) {
    // A trainer that never ended has no exit code: neither In nor NotIn holds.
    if (term === undefined) return false;
    const listed = rule.onExitCodes.values.includes(term.exitCode);
    if (listed !== (rule.onExitCodes.operator === 'In')) return false;
  }
  if (rule.onPodConditions !== undefined) {
    const has = rule.onPodConditions.some((want) =>
      pod.status?.conditions?.some((c) => c.type === want.type && c.status === want.status) ?? false);
    if (!has) return false;
  }
  if (rule.onReasons !== undefined) {
    const reasons = [pod.status?.reason, term?.reason].filter((r) => r !== undefined && r !== '');
    if (!rule.onReasons.some((r) => reasons.includes(r))) return false;
  }
  return true;
}

const ruleName = (rule: FailureRule, i: number): string =>
  `spec.runPolicy.failurePolicy.rules[${i}]${rule.name === undefined || rule.name === '' ? '' : ` (${rule.name})`}`;

/** The verdict on one failed pod: the job's first matching rule, else the first matching default. */
export function verdictOf(rules: readonly FailureRule[], pod: V1Pod): Verdict {
  const i = rules.findIndex((r) => matches(r, pod));
  if (i >= 0) {
    const rule = rules[i]!;
    const prefix = rule.action === 'FailJob' ? 'not retried: ' : '';
    return { action: rule.action, reason: BY_RULE[rule.action], why: `${prefix}${ruleName(rule, i)} says ${rule.action}` };
  }
  const d = DEFAULT_RULES.find((r) => matches(r, pod));
  return d === undefined ? OTHERWISE : { action: d.action, reason: d.reason, why: d.why };
}

const SEVERITY: Readonly<Record<FailureAction, number>> = { FailJob: 0, RestartJob: 1, Ignore: 2 };

/** A rank that exited as having lost its peer is the consequence of another's failure, not its cause. */
const lostPeer = (pod: V1Pod): boolean => trainerTerminated(pod)?.exitCode === EXIT_PEER_LOST;

/** The pod whose verdict decides for the gang: FailJob over RestartJob over Ignore (a rank that refused its data
 * explains why its peers lost it); among equals a rank that failed for its own reason over one that lost its peer,
 * then the lowest rank. `failed` is in rank order. */
export function decisive(rules: readonly FailureRule[], failed: readonly V1Pod[]): { pod: V1Pod; verdict: Verdict } | undefined {
  let best: { pod: V1Pod; verdict: Verdict } | undefined;
  for (const pod of failed) {
    const verdict = verdictOf(rules, pod);
    const graver = best === undefined || SEVERITY[verdict.action] < SEVERITY[best.verdict.action] ||
      (SEVERITY[verdict.action] === SEVERITY[best.verdict.action] && lostPeer(best.pod) && !lostPeer(pod));
    if (graver) best = { pod, verdict };
  }
  return best;
}
