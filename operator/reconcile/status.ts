// Status helpers: conditions that keep their transition time while unchanged, replica counts per generation.
import type { V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node';
import type { Condition, ConditionType, ReplicaCounts, SimCLRJobStatus } from '../api/schema.js';
import { generationOf, rankOf, TRAINER_CONTAINER } from './names.js';

export function setCondition(
  status: SimCLRJobStatus,
  c: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): SimCLRJobStatus {
  const conditions = status.conditions ?? [];
  const old = conditions.find((x) => x.type === c.type);
  if (old !== undefined && old.status === c.status && old.reason === c.reason && old.message === c.message) {
    return status;
  }
  const lastTransitionTime =
    old !== undefined && old.status === c.status ? old.lastTransitionTime : now.toISOString();
  const next: Condition = { ...c, lastTransitionTime };
  return {
    ...status,
    conditions: old === undefined ? [...conditions, next] : conditions.map((x) => (x.type === c.type ? next : x)),
  };
}

export function conditionTrue(status: SimCLRJobStatus | undefined, type: ConditionType): boolean {
  return status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

export const isTerminating = (pod: V1Pod): boolean => pod.metadata?.deletionTimestamp != null;

export function currentGeneration(status: SimCLRJobStatus | undefined): number {
  return status?.restartCount ?? 0;
}

const controlledBy = (pod: V1Pod, uid: string | undefined): boolean =>
  pod.metadata?.ownerReferences?.some((r) => r.controller === true && r.uid === uid) ?? false;

/** Live (not terminating) pods of this job (uid) and generation `gen` with a rank below `replicas`, by rank. */
export function gangPods(pods: V1Pod[], gen: number, replicas: number, uid: string | undefined): Map<number, V1Pod> {
  const out = new Map<number, V1Pod>();
  for (const pod of pods) {
    const rank = rankOf(pod);
    if (rank === undefined || rank >= replicas || generationOf(pod) !== gen || isTerminating(pod)) continue;
    if (!controlledBy(pod, uid)) continue;
    out.set(rank, pod);
  }
  return out;
}

export function countReplicas(gang: Map<number, V1Pod>): ReplicaCounts {
  const counts: ReplicaCounts = { pending: 0, running: 0, succeeded: 0, failed: 0 };
  for (const pod of gang.values()) {
    switch (pod.status?.phase) {
      case 'Running':
        counts.running++;
        break;
      case 'Succeeded':
        counts.succeeded++;
        break;
      case 'Failed':
        counts.failed++;
        break;
      default:
        counts.pending++;
    }
  }
  return counts;
}

/** Seconds between an RFC 3339 time and now (negative if in the future). */
export function secondsSince(time: string | undefined, now: Date): number | undefined {
  if (time === undefined) return undefined;
  return (now.getTime() - Date.parse(time)) / 1000;
}

/** How the trainer container ended (its exit code and termination message), once it has. */
export const trainerTerminated = (pod: V1Pod): V1ContainerStateTerminated | undefined =>
  pod.status?.containerStatuses?.find((c) => c.name === TRAINER_CONTAINER && c.state?.terminated !== undefined)?.state
    ?.terminated ?? pod.status?.containerStatuses?.find((c) => c.state?.terminated !== undefined)?.state?.terminated;
