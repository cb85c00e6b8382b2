// The SimCLRJob API (simclr.dev/v1alpha1): the single source of truth for the TypeScript types, the runtime
// validation the operator applies to what it reads, and the CRD's OpenAPI schema (see crd.ts).
// Cross-field rules are written twice on purpose, once as CEL (the apiserver rejects bad specs with the message)
// and once as a zod refinement (the operator never acts on a spec the apiserver would have refused); the two lists
// share their messages through CROSS_FIELD_RULES so a test can check they agree.
import { z } from 'zod';
import {
  celRule,
  DISTRIBUTED_ENV,
  EVAL_SPLITS,
  ProgressHistory,
  TERMINATION_MESSAGE_ENV,
  OPTIMIZERS,
  renderMessage,
  SEED_OPTIMIZER_ALIASES,
  TRAIN_CONFIG_RULES,
  TrainConfigFields,
  type ConfigRule,
  type RuleInput,
} from '../../trainer/contract/index.js';
import { FailurePolicy } from './failure-policy.js';
import { PodGroupSpec } from './pod-group.js';

export { FailurePolicy, FailureRule, FAILURE_ACTIONS, type FailureAction } from './failure-policy.js';
export { PodGroupSpec, POD_GROUP_APIS, POD_GROUP_KINDS, POD_GROUPS, type PodGroupKind } from './pod-group.js';

export const GROUP = 'simclr.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SimCLRJob';
export const PLURAL = 'simclrjobs';
export const SINGULAR = 'simclrjob';
export const SHORT_NAME = 'scj';
/** Longest job name such that `<name>-<rank>` (rank < 4096) still fits in a 63-character DNS label. */
export const MAX_JOB_NAME = 58;

/** Marks an object as opaque to the apiserver's pruning (a core/v1 type we do not re-describe). */
function k8sObject(description: string): z.ZodType<Record<string, unknown>> {
  return z
    .record(z.string(), z.unknown())
    .meta({ description, 'x-kubernetes-preserve-unknown-fields': true });
}

/** A resource.Quantity: an integer or a string such as "500m", "16Gi". */
const quantity = (description: string): z.ZodType<string | number> =>
  z
    .union([z.int().min(0), z.string().regex(/^[0-9.]+([eE][-+]?[0-9]+|[numkKMGTPE]i?)?$/, 'a quantity like 500m or 16Gi')])
    .meta({ description, 'x-kubernetes-int-or-string': true });

/** The trainer flags a user may set. Ranges, defaults and help come from the trainer's own contract; the operator
 * owns the rest (rank, world size, master, data and checkpoint paths, uid, resume, progress port). */
export const TrainingSpec = TrainConfigFields.pick({
  dataset: true,
  imageSizeOverride: true,
  evalImageSize: true,
  workersPerReplica: true,
  batchSize: true,
  epochs: true,
  lr: true,
  lrScaling: true,
  lrUpdateSchedule: true,
  warmup: true,
  optimizer: true,
  momentum: true,
  weightDecay: true,
  clip: true,
  polyakEma: true,
  earlyStop: true,
  earlyStopPatience: true,
  arch: true,
  stem: true,
  widthMultiplier: true,
  headLatentSize: true,
  nceSize: true,
  nceTemperature: true,
  precision: true,
  executionProvider: true,
  threads: true,
  cudaTf32: true,
  cudnnConvAlgoSearch: true,
  cudaMemoryLimitMib: true,
  gradientCacheChunk: true,
  seed: true,
  convertToSyncBn: true,
  rendezvousTimeout: true,
  collectiveTimeout: true,
  checkpointEvery: true,
  keepCheckpoints: true,
  knnK: true,
  logInterval: true,
  logLevel: true,
}).extend({
  // The seed's names too, as the trainer's --optimizer takes them (passed on as written; the trainer maps them).
  optimizer: z
    .enum([...OPTIMIZERS, ...(Object.keys(SEED_OPTIMIZER_ALIASES) as (keyof typeof SEED_OPTIMIZER_ALIASES & string)[])])
    .default('lars')
    .describe(
      `${TrainConfigFields.shape.optimizer.description ?? ''} The seed's names are accepted too: ` +
        `${Object.entries(SEED_OPTIMIZER_ALIASES).map(([seed, ours]) => `${seed} (= ${ours})`).join(', ')}.`,
    ),
  // A path in the pod, so the job's volumes are where it can point.
  weightInitialization: TrainConfigFields.shape.weightInitialization.describe(
    'Start from the weights of a checkpoint (a step-*.json manifest or a run folder) or an exported encoder.onnx, by its ' +
      'path in the pod: under /data (spec.data) or /checkpoints (spec.checkpoint, e.g. /checkpoints/<other job>): every ' +
      'weight from a checkpoint, the encoder\'s from an encoder.onnx; a gang restart resumes from this job\'s own checkpoint instead. A missing or incompatible ' +
      'file fails the job at once (exit code 2).',
  ),
}).meta({ description: "The trainer's hyperparameters; each key is the camelCase form of a trainer flag." });
export type TrainingSpec = z.infer<typeof TrainingSpec>;

export const ResourcesSpec = z
  .object({
    gpu: z.int().min(0).max(64).default(0).describe('GPUs per replica, requested as nvidia.com/gpu.'),
    cpu: quantity('CPU per replica (request = limit), e.g. "4" or "500m".').optional(),
    memory: quantity('Memory per replica (request = limit), e.g. "16Gi".').optional(),
    shmSize: quantity('Size of the /dev/shm memory-backed emptyDir.').default('1Gi'),
  })
  .meta({ description: 'Resources of each replica.' });

/** Volume kinds a job author may use anywhere: storage that exposes nothing of the node. */
export const VOLUME_SOURCE_KINDS = ['persistentVolumeClaim', 'emptyDir', 'configMap', 'secret', 'nfs', 'csi'] as const;
/** The other core/v1 kinds. hostPath reads or writes the node itself, the in-tree drivers reach the node's devices or
 * credentials: a job may use one only where the cluster admin allows it (the chart's jobs.extraVolumeKinds), refused
 * otherwise by the chart's ValidatingAdmissionPolicy at admission and by the operator at reconcile. */
export const ADMIN_VOLUME_SOURCE_KINDS = ['hostPath', 'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder',
  'downwardAPI', 'ephemeral', 'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'image', 'iscsi',
  'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte', 'rbd', 'scaleIO', 'storageos', 'vsphereVolume'] as const;
export const ALL_VOLUME_SOURCE_KINDS = [...VOLUME_SOURCE_KINDS, ...ADMIN_VOLUME_SOURCE_KINDS] as const;
export type VolumeSourceKind = (typeof ALL_VOLUME_SOURCE_KINDS)[number];

const ONE_VOLUME_SOURCE = `set exactly one volume source (${VOLUME_SOURCE_KINDS.join(', ')}, or another kind the ` +
  'cluster admin allows)';

export const VolumeSource = z
  .object(
    Object.fromEntries(ALL_VOLUME_SOURCE_KINDS.map((k) => [k, k8sObject(`A core/v1 ${k} volume source.`).optional()])) as Record<
      VolumeSourceKind,
      z.ZodOptional<z.ZodType<Record<string, unknown>>>
    >,
  )
  .refine((v) => Object.values(v).filter((x) => x !== undefined).length === 1, ONE_VOLUME_SOURCE)
  .meta({
    description: `A core/v1 VolumeSource: ${VOLUME_SOURCE_KINDS.join(', ')}; other kinds where the cluster admin allows them.`,
    'x-kubernetes-validations': [
      {
        rule: `[${ALL_VOLUME_SOURCE_KINDS.map((k) => `has(self.${k})`).join(', ')}].filter(x, x).size() == 1`,
        message: ONE_VOLUME_SOURCE,
      },
    ],
  });

/** Where the operator mounts its own volumes in the trainer container: an extra volume may not sit on, in or above
 * one of them. */
export const OPERATOR_MOUNTS = { data: '/data', checkpoint: '/checkpoints', shm: '/dev/shm', scratch: '/scratch', tmp: '/tmp' } as const;
const RESERVED_MOUNTS: readonly string[] = Object.values(OPERATOR_MOUNTS);
export const MAX_EXTRA_VOLUMES = 16;

const clashesWithOperator = (mountPath: string): boolean => {
  const dir = mountPath.endsWith('/') ? mountPath : `${mountPath}/`;
  return RESERVED_MOUNTS.some((p) => mountPath === p || mountPath.startsWith(`${p}/`) || p.startsWith(dir));
};
const RESERVED_MOUNT_MESSAGE = `mountPath is on, in or above a path the operator mounts (${RESERVED_MOUNTS.join(', ')}): mount elsewhere`;
const UNIQUE_VOLUMES_MESSAGE = 'each extra volume needs its own name and its own mountPath';

export const ExtraVolume = z
  .object({
    name: z
      .string()
      .max(50)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label: lower-case letters, digits and "-"')
      .describe('Name of the volume (the pod has it as user-<name>).'),
    mountPath: z
      .string()
      .max(1024)
      .regex(/^\/.+/, 'an absolute path below /')
      .refine((m) => !clashesWithOperator(m), RESERVED_MOUNT_MESSAGE)
      .meta({
        description: 'Absolute path in the trainer container.',
        'x-kubernetes-validations': [
          {
            rule: `![${RESERVED_MOUNTS.map((m) => `'${m}'`).join(', ')}].exists(p, self == p || self.startsWith(p + '/') || ` +
              "p.startsWith(self.endsWith('/') ? self : self + '/'))",
            message: RESERVED_MOUNT_MESSAGE,
          },
        ],
      }),
    readOnly: z.boolean().default(false).describe('Mount it read-only.'),
    volume: VolumeSource,
  })
  .meta({ description: 'A volume of an allowed kind, mounted into every trainer container.' });
export type ExtraVolume = z.infer<typeof ExtraVolume>;

const ExtraVolumes = z
  .array(ExtraVolume)
  .max(MAX_EXTRA_VOLUMES)
  .refine((vs) => vs.every((v) => vs.filter((w) => w.name === v.name || w.mountPath === v.mountPath).length === 1), UNIQUE_VOLUMES_MESSAGE)
  .meta({
    description: 'Extra volumes of every trainer pod (e.g. a Secret with credentials, a cache); the kinds as for data.',
    'x-kubernetes-validations': [
      { rule: 'self.all(v, self.filter(w, w.name == v.name || w.mountPath == v.mountPath).size() == 1)', message: UNIQUE_VOLUMES_MESSAGE },
    ],
  });

const VolumeRef = z.object({
  claimName: z.string().min(1).optional().describe('A PersistentVolumeClaim in the job namespace.'),
  volume: VolumeSource.optional(),
});

const exactlyOne = (v: { claimName?: string; volume?: object }): boolean =>
  (v.claimName !== undefined) !== (v.volume !== undefined);

export const DataSpec = VolumeRef.extend({
  path: z.string().default('').describe('Folder inside the volume that holds the data set (train/, test/, optional valid/).'),
}).refine(exactlyOne, 'data: set exactly one of claimName or volume').meta({
  description: 'Where the data set lives; omit to use the data baked into the image.',
  'x-kubernetes-validations': [
    { rule: 'has(self.claimName) != has(self.volume)', message: 'data: set exactly one of claimName or volume' },
  ],
});

export const CheckpointSpec = VolumeRef.refine(
  exactlyOne,
  'checkpoint: set exactly one of claimName or volume',
).meta({
  description: 'Volume for checkpoints; the gang resumes from the newest one after a restart.',
  'x-kubernetes-validations': [
    {
      rule: 'has(self.claimName) != has(self.volume)',
      message: 'checkpoint: set exactly one of claimName or volume',
    },
  ],
});

export const SchedulingSpec = z
  .object({
    nodeSelector: z.record(z.string(), z.string()).optional().describe('Node labels every replica must match.'),
    tolerations: z.array(k8sObject('A core/v1 Toleration.')).optional().describe('core/v1 tolerations.'),
    affinity: k8sObject('A core/v1 Affinity.').optional(),
    priorityClassName: z.string().optional().describe('PriorityClass of the pods.'),
    schedulerName: z.string().optional().describe('Scheduler of the pods (e.g. a gang scheduler such as volcano).'),
    topologySpreadConstraints: z
      .array(k8sObject('A core/v1 TopologySpreadConstraint.'))
      .optional()
      .describe('core/v1 topology spread constraints.'),
    runtimeClassName: z.string().optional().describe('RuntimeClass of the pods (e.g. nvidia).'),
    podGroup: PodGroupSpec.optional(),
  })
  .meta({ description: 'Where the replicas may run.' });

export const CLEAN_POD_POLICIES = ['All', 'Running', 'None'] as const;
export type CleanPodPolicy = (typeof CLEAN_POD_POLICIES)[number];

export const RunPolicy = z
  .object({
    backoffLimit: z
      .int()
      .min(0)
      .max(1000)
      .default(3)
      .describe('Gang restarts after failed ranks allowed before the job is Failed (a deleted pod, a rank stopped by '
        + 'SIGTERM, or a failure a failurePolicy rule says to Ignore, restarts the gang without counting).'),
    backoffSeconds: z
      .int()
      .min(0)
      .max(3600)
      .default(10)
      .describe('Delay before the first gang restart after a failed rank; doubles on each such restart, capped at 300 s.'),
    terminationGracePeriodSeconds: z
      .int()
      .min(1)
      .max(86400)
      .default(300)
      .describe('Time a rank gets after SIGTERM (suspend, pod deletion, drain) to finish its step and write a checkpoint '
        + 'before it is killed: longer than a step plus a checkpoint write.'),
    activeDeadlineSeconds: z
      .int()
      .min(1)
      .optional()
      .describe('Fail the job when it has run (not counting suspension) for this long.'),
    ttlSecondsAfterFinished: z
      .int()
      .min(0)
      .optional()
      .describe('Delete the job (and what it owns) this long after it finished.'),
    cleanPodPolicy: z
      .enum(CLEAN_POD_POLICIES)
      .default('Running')
      .describe('Pods to delete when the job finishes: All, Running (still running or pending) or None.'),
    suspend: z.boolean().default(false).describe('Delete the pods and keep the job; false resumes it.'),
    failurePolicy: FailurePolicy.optional(),
  })
  .meta({ description: 'Lifecycle policy of the gang.' });
export type RunPolicy = z.infer<typeof RunPolicy>;

/** Env variables the operator sets on every trainer container (rank, world size, rendezvous, termination message). */
export const OPERATOR_ENV: readonly string[] = [...DISTRIBUTED_ENV.map((e) => e.env), TERMINATION_MESSAGE_ENV];
export const MAX_ENV_VARS = 64;
/** Each value and the whole environment must fit exec's limits (128 KiB a string; the total shares ARG_MAX): a pod
 * whose process cannot start stays Pending, so a too-long value is refused up front. */
export const MAX_ENV_VALUE = 8192;

const ONE_KEY_REF = 'set exactly one of secretKeyRef or configMapKeyRef';
const VALUE_OR_VALUE_FROM = 'set value or valueFrom, not both';

const KeyRef = z.object({
  name: z.string().min(1).describe('Name of the object in the job namespace.'),
  key: z.string().min(1).describe('Key in it.'),
  optional: z.boolean().optional().describe('Start without the variable when the object or key is missing.'),
});

export const EnvVar = z
  .object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." or "-", not starting with a digit')
      .refine((n) => !OPERATOR_ENV.includes(n), 'is set by the operator on every pod: remove it')
      .meta({
        'x-kubernetes-validations': [
          {
            rule: `!(self in [${OPERATOR_ENV.map((n) => `'${n}'`).join(', ')}])`,
            messageExpression: "self + ' is set by the operator on every pod (rank, world size, rendezvous): remove it'",
          },
        ],
      }),
    value: z.string().max(MAX_ENV_VALUE).optional().describe('A literal value.'),
    valueFrom: z
      .object({
        secretKeyRef: KeyRef.optional().describe('A key of a Secret.'),
        configMapKeyRef: KeyRef.optional().describe('A key of a ConfigMap.'),
      })
      .refine((v) => (v.secretKeyRef === undefined) !== (v.configMapKeyRef === undefined), ONE_KEY_REF)
      .meta({
        'x-kubernetes-validations': [{ rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)', message: ONE_KEY_REF }],
      })
      .optional(),
  })
  .refine((e) => !(e.value !== undefined && e.valueFrom !== undefined), VALUE_OR_VALUE_FROM)
  .meta({
    description: 'An environment variable: a literal value, or a key of a Secret or ConfigMap.',
    'x-kubernetes-validations': [{ rule: '!(has(self.value) && has(self.valueFrom))', message: VALUE_OR_VALUE_FROM }],
  });
export type EnvVar = z.infer<typeof EnvVar>;

/** What a job author may add to every pod's metadata; the simclr.dev/ labels stay the operator's. */
export const PodTemplate = z
  .object({
    metadata: z
      .object({
        labels: z.record(z.string(), z.string()).optional().describe('Labels added to every pod.'),
        annotations: z.record(z.string(), z.string()).optional().describe('Annotations added to every pod.'),
      })
      .optional(),
  })
  .meta({
    description:
      'Labels and annotations for every pod. Scheduling is in spec.scheduling, env in spec.env; the command, args, ' +
      'service account, restart policy and security context are the operator\'s.',
  });

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

const SpecFieldsSchema = z.object({
  image: z.string().min(1).describe('Trainer image.'),
  imagePullPolicy: z.enum(IMAGE_PULL_POLICIES).default('IfNotPresent').describe('Pull policy of the image.'),
  replicas: z.int().min(1).max(4096).default(1).describe('Number of ranks (pods) in the gang.'),
  resources: ResourcesSpec.prefault({}),
  training: TrainingSpec.prefault({}),
  extraArgs: z.array(z.string()).optional().describe('Extra trainer arguments, appended after the generated ones.'),
  env: z
    .array(EnvVar)
    .max(MAX_ENV_VARS)
    .optional()
    .describe('Extra environment variables of the trainer container.'),
  data: DataSpec.optional(),
  checkpoint: CheckpointSpec.optional(),
  volumes: ExtraVolumes.optional(),
  scheduling: SchedulingSpec.optional(),
  runPolicy: RunPolicy.prefault({}),
  masterPort: z.int().min(1).max(65535).default(29500).describe('Port of the rendezvous store on rank 0.'),
  progressPort: z.int().min(1).max(65535).default(29400).describe('Port of the progress endpoint on rank 0.'),
  podTemplate: PodTemplate.optional(),
});
type SpecFields = z.infer<typeof SpecFieldsSchema>;

/** A rule on the spec, for the apiserver (CEL) and for the operator (`holds`, on the parsed spec). The message is
 * static: a CEL messageExpression that prints the values is over the apiserver's cost budget for unbounded strings. */
export interface SpecRule {
  rule: string;
  message: string;
  /** Where the apiserver reports it, relative to spec. */
  fieldPath: string;
  holds: (spec: SpecFields) => boolean;
}

/** The trainer config keys a SimCLRJob spec sets, by the spec path that sets them. Rules on other keys (the rank) hold
 * by construction: the operator sets them. */
const SPEC_PATHS: Readonly<Record<string, string>> = {
  numReplicas: 'replicas',
  dataDir: 'data',
  ...Object.fromEntries(Object.keys(TrainingSpec.shape).map((k) => [k, `training.${k}`])),
};

/** The trainer config a spec leads to, as far as the contract's rules read it. */
export function ruleInput(spec: SpecFields): RuleInput {
  return { ...spec.training, numReplicas: spec.replicas, dataDir: spec.data === undefined ? undefined : 'data' };
}

/** The lower bound of an integer spec field that rules read, if any. */
function integerMinimum(path: string): number | undefined {
  const field = path.startsWith('training.')
    ? TrainingSpec.shape[path.slice('training.'.length) as keyof typeof TrainingSpec.shape]
    : SpecFieldsSchema.shape[path as keyof typeof SpecFieldsSchema.shape];
  const js = z.toJSONSchema(field as z.ZodType, { io: 'input' }) as { type?: string; minimum?: number };
  return js.type === 'integer' ? js.minimum : undefined;
}

function specRuleFrom(r: ConfigRule): SpecRule | undefined {
  if (r.holds.keys.some((k) => SPEC_PATHS[k] === undefined)) return undefined;
  const fields = {
    value: (k: string): string => `self.${SPEC_PATHS[k]!}`,
    isSet: (k: string): string => `has(self.${SPEC_PATHS[k]!})`,
  };
  return {
    rule: celRule(r, fields, (k) => integerMinimum(SPEC_PATHS[k]!)),
    message: renderMessage(r.message, (k) => `spec.${SPEC_PATHS[k]!}`),
    fieldPath: `.${SPEC_PATHS[r.key]!}`,
    holds: (spec) => r.holds.eval(ruleInput(spec)),
  };
}

const GPU_RULE: SpecRule = {
  rule: "self.resources.gpu > 0 || self.training.executionProvider != 'cuda'",
  message: 'spec.training.executionProvider cuda needs spec.resources.gpu of at least 1',
  fieldPath: '.resources.gpu',
  holds: (s) => s.resources.gpu > 0 || s.training.executionProvider !== 'cuda',
};

/** Cross-field rules on the spec: the trainer's own (from its contract) and the operator's (pods need GPUs). */
export const CROSS_FIELD_RULES: readonly SpecRule[] = [
  ...TRAIN_CONFIG_RULES.flatMap((r) => specRuleFrom(r) ?? []),
  GPU_RULE,
];

/** Rules on updates (CEL transition rules; only the apiserver sees the old object). The pods of a running gang were
 * built from these fields and pods are immutable, so changing them would leave a gang that disagrees with itself. */
export const TRANSITION_RULES: ReadonlyArray<{ rule: string; message: string }> = [
  {
    rule: 'self.replicas == oldSelf.replicas && self.image == oldSelf.image && self.training == oldSelf.training',
    message: 'replicas, image and training are immutable (the gang was built from them); create a new SimCLRJob',
  },
];

export const SimCLRJobSpec = SpecFieldsSchema.meta({
  description: 'A distributed SimCLR pre-training run: a gang of replicas ranks of the trainer.',
  'x-kubernetes-validations': [
    ...CROSS_FIELD_RULES.map(({ rule, message, fieldPath }) => ({ rule, message, fieldPath })),
    ...TRANSITION_RULES,
  ],
}).superRefine((spec, ctx) => {
  for (const r of CROSS_FIELD_RULES) {
    if (!r.holds(spec)) ctx.addIssue({ code: 'custom', message: r.message, path: r.fieldPath.slice(1).split('.') });
  }
});
export type SimCLRJobSpec = z.infer<typeof SimCLRJobSpec>;
export type SimCLRJobSpecInput = z.input<typeof SimCLRJobSpec>;

// ---- status

export const PHASES = ['Pending', 'Running', 'Restarting', 'Suspended', 'Succeeded', 'Failed'] as const;
export type Phase = (typeof PHASES)[number];
/** CheckpointsCorrupt: the last resume found checkpoints that did not verify (moved aside by the trainer, kept). */
export const CONDITION_TYPES = ['Created', 'Running', 'Restarting', 'Suspended', 'Succeeded', 'Failed', 'CheckpointsCorrupt'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const Condition = z.object({
  type: z.enum(CONDITION_TYPES),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().describe('CamelCase reason.'),
  message: z.string().describe('Human-readable detail.'),
  lastTransitionTime: z.string().describe('RFC 3339 time the status last changed.'),
});
export type Condition = z.infer<typeof Condition>;

export const ReplicaCounts = z.object({
  pending: z.int().min(0).default(0),
  running: z.int().min(0).default(0),
  succeeded: z.int().min(0).default(0),
  failed: z.int().min(0).default(0),
});
export type ReplicaCounts = z.infer<typeof ReplicaCounts>;

export const Progress = z.object({
  epoch: z.int().min(0).optional().describe('Current epoch (1-based once training started).'),
  step: z.int().min(0).optional().describe('Optimizer steps taken.'),
  totalSteps: z.int().min(0).optional().describe('Optimizer steps of the whole run.'),
  loss: z.number().optional().describe('Latest training loss.'),
  imagesPerSecond: z.number().min(0).optional().describe('Global throughput.'),
  etaSeconds: z.number().min(0).optional().describe('Estimated seconds to completion.'),
  lastCheckpoint: z.string().optional().describe('Newest checkpoint written.'),
  updateTime: z.string().optional().describe('When the operator last read the progress endpoint.'),
  knnTop1: z.number().min(0).max(1).optional().describe('kNN top-1 of the last evaluation (fraction).'),
  top1: z.number().min(0).max(1).optional().describe('Linear-classifier top-1 of the last evaluation (fraction).'),
  top5: z.number().min(0).max(1).optional().describe('Linear-classifier top-5 of the last evaluation (fraction).'),
  evalSplit: z.enum(EVAL_SPLITS).optional().describe('Where the last evaluation was measured.'),
  history: ProgressHistory.optional().describe('Rank 0\'s curves since the job began, bounded and downsampled (for dashboards).'),
});
export type Progress = z.infer<typeof Progress>;

export const SimCLRJobStatus = z.object({
  phase: z.enum(PHASES).optional(),
  conditions: z
    .array(Condition)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .optional(),
  replicas: ReplicaCounts.optional().describe('Pods of the current gang by phase.'),
  restartCount: z.int().min(0).optional().describe('Gang restarts so far; also the restart-generation pod label.'),
  failureRestarts: z
    .int()
    .min(0)
    .optional()
    .describe('Gang restarts after failed ranks: what backoffLimit counts (restarts after deleted pods or planned stops do not).'),
  startTime: z.string().optional().describe('When the current run (since creation or resume) started.'),
  completionTime: z.string().optional().describe('When the job reached Succeeded or Failed.'),
  lastRestartTime: z.string().optional().describe('When the last gang restart was decided.'),
  progress: Progress.optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type SimCLRJobStatus = z.infer<typeof SimCLRJobStatus>;

export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().default('default'),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const SimCLRJob = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: SimCLRJobSpec,
  status: SimCLRJobStatus.optional(),
});
export type SimCLRJob = z.infer<typeof SimCLRJob>;

/** Parses an object read from the apiserver, with a message that names the job. */
export function parseSimCLRJob(obj: unknown): SimCLRJob {
  const r = SimCLRJob.safeParse(obj);
  if (r.success) return r.data;
  const meta = (obj as { metadata?: { namespace?: string; name?: string } } | null)?.metadata;
  throw new Error(`invalid SimCLRJob ${meta?.namespace ?? '?'}/${meta?.name ?? '?'}: ${z.prettifyError(r.error)}`, {
    cause: r.error,
  });
}
