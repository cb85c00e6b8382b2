// What a reconcile sees (Observed) and what it decides (Plan). plan.ts maps one to the other without I/O.
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1Pod } from '@kubernetes/client-node';
import type { CorruptCheckpoints } from '../../trainer/contract/index.js';
import type { Progress, SimCLRJob, SimCLRJobStatus } from '../api/schema.js';
import type { DesiredPodGroup } from './pod-group.js';

export interface Observed {
  job: SimCLRJob;
  /** Pods labelled with the job's name and owned by it, any generation, terminating ones included. */
  pods: V1Pod[];
  serviceExists: boolean;
  networkPolicyExists: boolean;
  /** Who the operator is, for the job's NetworkPolicy (its pods may poll rank 0's progress). */
  operatorPeer: V1NetworkPolicyPeer;
  /** Latest progress read from rank 0, if any. */
  progress?: Progress;
  /** Volume kinds the cluster admin allows beyond the safe ones (--extra-volume-kinds). */
  extraVolumeKinds?: readonly string[];
  /** What rank 0's resume found corrupt, as its progress document reports it. */
  corruptCheckpoints?: CorruptCheckpoints;
  now: Date;
}

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Plan {
  /** The status to write; the apply layer skips the write when it equals the current one. */
  status: SimCLRJobStatus;
  createService: boolean;
  deleteService: boolean;
  createNetworkPolicy?: V1NetworkPolicy;
  /** The job's pod group (gang scheduling), created before any pod; AlreadyExists is expected. */
  createPodGroup?: DesiredPodGroup;
  createPods: V1Pod[];
  /** Names of pods to delete. */
  deletePods: string[];
  deleteJob: boolean;
  /** Emitted after the status write succeeds. */
  events: JobEvent[];
  /** Reconcile again after this long (a timer: backoff, deadline, TTL, progress). */
  requeueAfterMs?: number;
}

export function emptyPlan(status: SimCLRJobStatus): Plan {
  return {
    status,
    createService: false,
    deleteService: false,
    createPods: [],
    deletePods: [],
    deleteJob: false,
    events: [],
  };
}

/** The earlier of two optional delays. */
export function soonest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
