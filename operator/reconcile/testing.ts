// Test fixtures for reconcile tests (not a test file itself).
import type { V1Pod } from '@kubernetes/client-node';
import { parseSimCLRJob, type SimCLRJob, type SimCLRJobStatus } from '../api/schema.js';
import { desiredPod } from './desired.js';
import type { Observed } from './types.js';

export const T0 = new Date('2026-01-01T00:00:00Z');
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

export function makeJob(spec: Record<string, unknown> = {}, status?: SimCLRJobStatus): SimCLRJob {
  return parseSimCLRJob({
    apiVersion: 'simclr.dev/v1alpha1',
    kind: 'SimCLRJob',
    metadata: { name: 'pre', namespace: 'ml', uid: 'uid-1', generation: 1, resourceVersion: '7' },
    spec: { image: 'trainer:1', replicas: 2, training: { batchSize: 64 }, ...spec },
    ...(status !== undefined && { status }),
  });
}

export function podIn(job: SimCLRJob, rank: number, phase: string, gen = 0): V1Pod {
  const pod = desiredPod(job, rank, gen);
  pod.status = { phase };
  if (phase === 'Failed') {
    pod.status.containerStatuses = [
      { name: 'trainer', image: 'x', imageID: '', ready: false, restartCount: 0,
        state: { terminated: { exitCode: 3, reason: 'Error' } } },
    ];
  }
  return pod;
}

/** The operator as the tests' NetworkPolicy peer. */
export const OPERATOR_PEER = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'simclr-system' } } };

export function observe(job: SimCLRJob, pods: V1Pod[], now = T0, serviceExists = true): Observed {
  return { job, pods, serviceExists, networkPolicyExists: serviceExists, operatorPeer: OPERATOR_PEER, now };
}
