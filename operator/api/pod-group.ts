// spec.scheduling.podGroup: gang scheduling. The operator creates the pod group the chosen scheduler reads (minMember
// = replicas), so that scheduler places no rank until it can place all of them: a DDP rank alone holds its GPUs and
// does nothing. The types and the two schedulers' API facts live here; the object is built in reconcile/desired.ts.
import { z } from 'zod';

export const POD_GROUP_KINDS = ['Coscheduling', 'Volcano'] as const;
/** The resource of both schedulers' pod groups (each in its own API group). */
export const POD_GROUPS = 'podgroups';
export type PodGroupKind = (typeof POD_GROUP_KINDS)[number];

/** What each scheduler's pod group is and how a pod names its group. */
export const POD_GROUP_APIS: Readonly<Record<PodGroupKind, {
  group: string;
  version: string;
  plural: typeof POD_GROUPS;
  /** The pod label (coscheduling) or annotation (Volcano) that names the pod's group. */
  podLabel?: string;
  podAnnotation?: string;
  /** The pods' schedulerName when spec.scheduling.schedulerName is unset (none: the cluster's default scheduler). */
  schedulerName?: string;
}>> = {
  // kubernetes-sigs/scheduler-plugins, apis/scheduling/v1alpha1 (PodGroupLabel).
  Coscheduling: { group: 'scheduling.x-k8s.io', version: 'v1alpha1', plural: 'podgroups', podLabel: 'scheduling.x-k8s.io/pod-group' },
  // volcano.sh/apis, scheduling/v1beta1 (KubeGroupNameAnnotationKey); Volcano schedules only pods that name it.
  Volcano: { group: 'scheduling.volcano.sh', version: 'v1beta1', plural: 'podgroups',
    podAnnotation: 'scheduling.k8s.io/group-name', schedulerName: 'volcano' },
};

const QUEUE_VOLCANO = 'queue is Volcano\'s: remove it or set kind Volcano';
const TIMEOUT_COSCHEDULING = 'scheduleTimeoutSeconds is the coscheduling plugin\'s: remove it or set kind Coscheduling';

export const PodGroupSpec = z
  .object({
    kind: z
      .enum(POD_GROUP_KINDS)
      .describe('Coscheduling: a scheduler-plugins PodGroup (scheduling.x-k8s.io/v1alpha1), for a kube-scheduler with ' +
        'the coscheduling plugin (set schedulerName to it unless it is the default scheduler). Volcano: a Volcano ' +
        'PodGroup (scheduling.volcano.sh/v1beta1); the pods\' schedulerName defaults to volcano.'),
    scheduleTimeoutSeconds: z
      .int()
      .min(1)
      .max(86400)
      .optional()
      .describe('Coscheduling: how long the ranks that fit may wait for the others before the gang is retried.'),
    queue: z.string().min(1).max(253).optional().describe('Volcano: the queue the pod group is submitted to.'),
  })
  .refine((p) => p.queue === undefined || p.kind === 'Volcano', QUEUE_VOLCANO)
  .refine((p) => p.scheduleTimeoutSeconds === undefined || p.kind === 'Coscheduling', TIMEOUT_COSCHEDULING)
  .meta({
    description: 'Gang scheduling: the operator creates this scheduler\'s pod group (name: the job\'s, minMember: ' +
      'replicas) before the pods, and names it on every pod, so no rank is placed until all can be. Its CRD must be ' +
      'installed (the scheduler\'s own chart does it).',
    'x-kubernetes-validations': [
      { rule: "!has(self.queue) || self.kind == 'Volcano'", message: QUEUE_VOLCANO, fieldPath: '.queue' },
      { rule: "!has(self.scheduleTimeoutSeconds) || self.kind == 'Coscheduling'", message: TIMEOUT_COSCHEDULING,
        fieldPath: '.scheduleTimeoutSeconds' },
    ],
  });
export type PodGroupSpec = z.infer<typeof PodGroupSpec>;
