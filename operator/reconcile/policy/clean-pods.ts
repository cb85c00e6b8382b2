// cleanPodPolicy, applied once the job is Succeeded or Failed: All deletes every pod (and the Service), Running
// deletes the pods still pending or running (and the Service), None keeps everything for inspection.
import type { V1Pod } from '@kubernetes/client-node';
import type { CleanPodPolicy } from '../../api/schema.js';
import { isTerminating } from '../status.js';

const stillRunning = (p: V1Pod): boolean => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

export function podsToClean(policy: CleanPodPolicy, pods: V1Pod[]): string[] {
  if (policy === 'None') return [];
  return pods
    .filter((p) => !isTerminating(p) && (policy === 'All' || stillRunning(p)))
    .map((p) => p.metadata?.name ?? '');
}

export function cleanService(policy: CleanPodPolicy): boolean {
  return policy !== 'None';
}
