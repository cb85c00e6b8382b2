// Shapes the REST API returns, built from cached objects (pure functions; the route handlers stay thin).
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { SimCLRJob, type Progress } from '../api/schema.js';
import { generationOf, rankOf } from '../reconcile/names.js';
import { specProblem } from '../reconcile/validate.js';
import type { JobSummary, PodState } from './rest-shapes.js';

export type { JobSummary, PodState } from './rest-shapes.js';

const iso = (t: unknown): string => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : '');

export function summarize(raw: KubernetesObject): JobSummary {
  const parsed = SimCLRJob.safeParse(raw);
  const any = raw as { spec?: { replicas?: number }; status?: { phase?: string; restartCount?: number;
    replicas?: { running?: number }; progress?: Progress } };
  const status = parsed.success ? parsed.data.status : any.status;
  const out: JobSummary = {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    phase: status?.phase ?? 'Pending',
    replicas: parsed.success ? parsed.data.spec.replicas : (any.spec?.replicas ?? 0),
    restartCount: status?.restartCount ?? 0,
    readyReplicas: status?.replicas?.running ?? 0,
    createdAt: iso(raw.metadata?.creationTimestamp),
    // Valid means the trainer would run it, not only that it has the right shape.
    valid: parsed.success && specProblem(parsed.data) === undefined,
  };
  if (parsed.success) out.epochs = parsed.data.spec.training.epochs;
  const p = status?.progress;
  for (const k of ['epoch', 'step', 'totalSteps', 'loss', 'imagesPerSecond', 'etaSeconds', 'knnTop1', 'top1'] as const) {
    if (p?.[k] !== undefined) out[k] = p[k];
  }
  return out;
}

export function podState(pod: V1Pod): PodState {
  const term = pod.status?.containerStatuses?.find((c) => c.state?.terminated !== undefined)?.state?.terminated;
  const out: PodState = {
    name: pod.metadata?.name ?? '',
    rank: rankOf(pod) ?? null,
    restartGeneration: generationOf(pod) ?? null,
    phase: pod.metadata?.deletionTimestamp != null ? 'Terminating' : (pod.status?.phase ?? 'Pending'),
  };
  if (pod.status?.podIP !== undefined) out.podIP = pod.status.podIP;
  if (pod.spec?.nodeName !== undefined) out.nodeName = pod.spec.nodeName;
  const reason = term?.reason ?? pod.status?.reason;
  if (reason !== undefined) out.reason = reason;
  if (term?.exitCode !== undefined) out.exitCode = term.exitCode;
  return out;
}

/** The spec fields a dashboard shows; the full spec is one kubectl away. */
export function specSummary(raw: KubernetesObject): Record<string, unknown> {
  const parsed = SimCLRJob.safeParse(raw);
  if (!parsed.success) return {};
  const s = parsed.data.spec;
  return {
    image: s.image,
    replicas: s.replicas,
    resources: s.resources,
    training: { arch: s.training.arch, dataset: s.training.dataset, batchSize: s.training.batchSize,
      epochs: s.training.epochs, optimizer: s.training.optimizer, lr: s.training.lr,
      executionProvider: s.training.executionProvider },
    runPolicy: s.runPolicy,
    checkpoint: s.checkpoint,
  };
}
