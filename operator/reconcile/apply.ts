// The thin layer between a Plan and the apiserver: deletes, creates, then one status write, then events, then
// (TTL) the job itself. It never assumes what an earlier reconcile did: NotFound on delete and AlreadyExists on
// create are expected and ignored, and a status conflict is thrown for the queue to retry.
import { isDeepStrictEqual } from 'node:util';
import type { V1NetworkPolicy, V1Pod, V1Service } from '@kubernetes/client-node';
import type { SimCLRJob, SimCLRJobStatus } from '../api/schema.js';
import type { DesiredPodGroup } from './pod-group.js';
import type { JobEvent, Plan } from './types.js';
import { desiredService } from './desired.js';

/** A pod the apiserver refuses for what it is (invalid, or against the namespace's Pod Security level): the job's
 * spec cannot run here, and retrying would not change that. */
export class PodRefusedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodRefusedError';
  }
}

/** What the apply layer needs from the apiserver; controller/kube.ts implements it with @kubernetes/client-node. */
export interface JobClient {
  /** False when the pod already existed (AlreadyExists). Throws PodRefusedError when the apiserver refuses the pod. */
  createPod(namespace: string, pod: V1Pod): Promise<boolean>;
  /** False when the pod was already gone (NotFound). */
  deletePod(namespace: string, name: string): Promise<boolean>;
  createService(namespace: string, service: V1Service): Promise<void>;
  /** AlreadyExists is not an error. */
  createNetworkPolicy(namespace: string, policy: V1NetworkPolicy): Promise<void>;
  /** AlreadyExists is not an error; a cluster that does not serve the group's API is (its CRD is missing). */
  createPodGroup(namespace: string, podGroup: DesiredPodGroup): Promise<void>;
  deleteService(namespace: string, name: string): Promise<void>;
  /** Replaces status with optimistic concurrency (the job's resourceVersion); throws on conflict. */
  updateStatus(job: SimCLRJob, status: SimCLRJobStatus): Promise<void>;
  deleteJob(job: SimCLRJob): Promise<void>;
  emitEvent(job: SimCLRJob, event: JobEvent): Promise<void>;
}

export interface ApplyResult {
  statusWritten: boolean;
  created: number;
  deleted: number;
}

/** Runs `fn` over items with at most `limit` in flight; rethrows the first error after all settle. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

export async function applyPlan(
  job: SimCLRJob,
  plan: Plan,
  client: JobClient,
  onEventError: (err: unknown) => void = () => {},
): Promise<ApplyResult> {
  const ns = job.metadata.namespace;
  let deleted = 0;
  let created = 0;
  await forEachLimited(plan.deletePods, 16, async (name) => {
    if (await client.deletePod(ns, name)) deleted++;
  });
  if (plan.deleteService) await client.deleteService(ns, job.metadata.name);
  if (plan.createService) await client.createService(ns, desiredService(job));
  // Before the pods, so no rank is ever reachable by more than its gang and the operator.
  if (plan.createNetworkPolicy !== undefined) await client.createNetworkPolicy(ns, plan.createNetworkPolicy);
  // Before the pods, so the gang scheduler never sees a rank without its group.
  if (plan.createPodGroup !== undefined) await client.createPodGroup(ns, plan.createPodGroup);
  await forEachLimited(plan.createPods, 16, async (pod) => {
    if (await client.createPod(ns, pod)) created++;
  });
  const statusWritten = !isDeepStrictEqual(stripUndefined(plan.status), stripUndefined(job.status ?? {}));
  if (statusWritten) await client.updateStatus(job, plan.status);
  // A pass that changed nothing (a stale cache replaying an earlier pass) records no events either.
  if (statusWritten || created + deleted > 0) {
    for (const event of plan.events) {
      await client.emitEvent(job, event).catch(onEventError);
    }
  }
  if (plan.deleteJob) await client.deleteJob(job);
  return { statusWritten, created, deleted };
}

/** JSON round trip: the form the apiserver stores (no undefined keys). */
export function stripUndefined<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
