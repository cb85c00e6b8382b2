// Names and labels shared by desired state, the apply layer and the watches.
import type { SimCLRJob } from '../api/schema.js';
import { API_VERSION, KIND } from '../api/schema.js';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export const LABEL_JOB_NAME = 'simclr.dev/job-name';
export const LABEL_RANK = 'simclr.dev/rank';
export const LABEL_RESTART_GENERATION = 'simclr.dev/restart-generation';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'simclr-operator';
export const TRAINER_CONTAINER = 'trainer';
/** The trainer image's user and group (trainer/Dockerfile: USER 10001:10001); pods run as it. */
export const TRAINER_UID = 10001;

export const podName = (jobName: string, rank: number): string => `${jobName}-${rank}`;
export const serviceName = (jobName: string): string => jobName;
/** Stable DNS name of rank 0 through the headless Service (resolves via the pod's search path). */
export const masterAddr = (job: SimCLRJob): string =>
  `${podName(job.metadata.name, 0)}.${serviceName(job.metadata.name)}.${job.metadata.namespace}.svc`;

export const jobKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export function ownerReference(job: SimCLRJob): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: job.metadata.name,
    uid: job.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Rank of a pod from its label, or undefined when absent or malformed. */
export function rankOf(pod: V1Pod): number | undefined {
  const v = pod.metadata?.labels?.[LABEL_RANK];
  if (v === undefined || !/^[0-9]+$/.test(v)) return undefined;
  return Number(v);
}

export function generationOf(pod: V1Pod): number | undefined {
  const v = pod.metadata?.labels?.[LABEL_RESTART_GENERATION];
  if (v === undefined || !/^[0-9]+$/.test(v)) return undefined;
  return Number(v);
}
