// Gang scheduling, desired state: the pod group of spec.scheduling.podGroup (one per job, kept across restarts:
// every generation has the same replicas) and what each pod carries to name it. Pure, like desired.ts.
import { POD_GROUP_APIS, type PodGroupKind, type SimCLRJob } from '../api/schema.js';
import { jobLabels } from './desired.js';
import { ownerReference } from './names.js';

/** A pod group to create: where (group, version, plural) and the object. */
export interface DesiredPodGroup {
  kind: PodGroupKind;
  group: string;
  version: string;
  plural: string;
  body: Record<string, unknown>;
}

/** The job's pod group, or undefined without spec.scheduling.podGroup. Named as the job (pods of the job name it). */
export function desiredPodGroup(job: SimCLRJob): DesiredPodGroup | undefined {
  const pg = job.spec.scheduling?.podGroup;
  if (pg === undefined) return undefined;
  const api = POD_GROUP_APIS[pg.kind];
  // minMember = replicas: the scheduler binds no rank until every rank fits.
  const spec: Record<string, unknown> = { minMember: job.spec.replicas };
  if (pg.scheduleTimeoutSeconds !== undefined) spec.scheduleTimeoutSeconds = pg.scheduleTimeoutSeconds;
  if (pg.queue !== undefined) spec.queue = pg.queue;
  const priority = job.spec.scheduling?.priorityClassName;
  if (pg.kind === 'Volcano' && priority !== undefined) spec.priorityClassName = priority;
  return {
    kind: pg.kind, group: api.group, version: api.version, plural: api.plural,
    body: {
      apiVersion: `${api.group}/${api.version}`,
      kind: 'PodGroup',
      metadata: { name: job.metadata.name, namespace: job.metadata.namespace, labels: jobLabels(job),
        ownerReferences: [ownerReference(job)] },
      spec,
    },
  };
}

/** What a pod of the job carries for its pod group: a label or an annotation naming it, and the scheduler. */
export function podGroupMembership(job: SimCLRJob): { labels: Record<string, string>; annotations: Record<string, string>;
  schedulerName?: string } {
  const pg = job.spec.scheduling?.podGroup;
  if (pg === undefined) return { labels: {}, annotations: {} };
  const api = POD_GROUP_APIS[pg.kind];
  const name = job.metadata.name;
  return {
    labels: api.podLabel === undefined ? {} : { [api.podLabel]: name },
    annotations: api.podAnnotation === undefined ? {} : { [api.podAnnotation]: name },
    schedulerName: job.spec.scheduling?.schedulerName ?? api.schedulerName,
  };
}
