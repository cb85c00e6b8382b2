// Desired state as a pure function of the SimCLRJob: one headless Service and, for a restart generation, the pod
// of each rank. No I/O, no clock: the apply layer compares these with what exists.
import type {
  V1Container,
  V1EnvVar,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1ObjectMeta,
  V1Pod,
  V1PodSecurityContext,
  V1Service,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  DEFAULT_TERMINATION_MESSAGE_PATH,
  DISTRIBUTED_ENV,
  TERMINATION_MESSAGE_ENV,
} from '../../trainer/contract/index.js';
import { OPERATOR_MOUNTS, type EnvVar, type SimCLRJob } from '../api/schema.js';
import {
  LABEL_JOB_NAME,
  LABEL_MANAGED_BY,
  LABEL_RANK,
  LABEL_RESTART_GENERATION,
  MANAGED_BY,
  masterAddr,
  ownerReference,
  podName,
  serviceName,
  TRAINER_CONTAINER,
  TRAINER_UID,
} from './names.js';
import { podGroupMembership } from './pod-group.js';
import { CHECKPOINT_MOUNT, DATA_MOUNT, SCRATCH_MOUNT, TMP_MOUNT, trainerArgs } from './trainer-args.js';

export const SHM_MOUNT = OPERATOR_MOUNTS.shm;

/** Labels every object of the job carries; the Service selects pods with them. */
export function jobLabels(job: SimCLRJob): Record<string, string> {
  return { [LABEL_JOB_NAME]: job.metadata.name, [LABEL_MANAGED_BY]: MANAGED_BY };
}

/** Metadata of the one-per-job objects (Service, NetworkPolicy): named after the job, labelled and owned by it. */
function ownedMetadata(job: SimCLRJob): V1ObjectMeta {
  return {
    name: serviceName(job.metadata.name),
    namespace: job.metadata.namespace,
    labels: jobLabels(job),
    ownerReferences: [ownerReference(job)],
  };
}

export function desiredService(job: SimCLRJob): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(job),
    spec: {
      clusterIP: 'None',
      // Ranks must resolve each other before they are Ready: they become ready only after the rendezvous.
      publishNotReadyAddresses: true,
      selector: { [LABEL_JOB_NAME]: job.metadata.name },
      ports: [
        { name: 'rendezvous', port: job.spec.masterPort, targetPort: job.spec.masterPort },
        { name: 'progress', port: job.spec.progressPort, targetPort: job.spec.progressPort },
      ],
    },
  };
}

/** The author's env first, then the operator's: the schema refuses the operator's names in spec.env, and were one to
 * slip through, the last definition of a name is the one a container gets. */
/** Who may reach a job's pods: its own ranks on any port (Gloo's full mesh listens on ports it picks), and the operator
 * on the progress port. Everything else is refused once a network plugin enforces NetworkPolicy. */
export function desiredNetworkPolicy(job: SimCLRJob, operator: V1NetworkPolicyPeer): V1NetworkPolicy {
  const ownPods = { matchLabels: { [LABEL_JOB_NAME]: job.metadata.name } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMetadata(job),
    spec: {
      podSelector: ownPods,
      policyTypes: ['Ingress'],
      // `_from` is client-node's name for the JSON field `from` (a reserved word in its generator).
      ingress: [
        { _from: [{ podSelector: ownPods }] },
        { _from: [operator], ports: [{ protocol: 'TCP', port: job.spec.progressPort }] },
      ],
    },
  };
}

function rankEnv(job: SimCLRJob, rank: number): V1EnvVar[] {
  // The contract names the variables; the values are what the operator decides for this rank.
  const distributed: Record<(typeof DISTRIBUTED_ENV)[number]['flag'], string> = {
    'distributed-rank': String(rank),
    'num-replicas': String(job.spec.replicas),
    'distributed-master': masterAddr(job),
    'distributed-port': String(job.spec.masterPort),
  };
  return [
    ...(job.spec.env ?? []).map(authorEnv),
    ...DISTRIBUTED_ENV.map(({ env, flag }) => ({ name: env, value: distributed[flag] })),
    { name: TERMINATION_MESSAGE_ENV, value: DEFAULT_TERMINATION_MESSAGE_PATH },
  ];
}

function authorEnv(e: EnvVar): V1EnvVar {
  if (e.valueFrom === undefined) return { name: e.name, value: e.value ?? '' };
  return { name: e.name, valueFrom: e.valueFrom };
}

function volumeSource(ref: { claimName?: string; volume?: Record<string, unknown> }, readOnly: boolean): object {
  if (ref.claimName !== undefined) return { persistentVolumeClaim: { claimName: ref.claimName, readOnly } };
  return ref.volume ?? {};
}

function volumes(job: SimCLRJob): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const { spec } = job;
  const vols: V1Volume[] = [
    { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: String(spec.resources.shmSize) } },
    // The root filesystem is read-only: the trainer's logs (and checkpoints without a volume) and temp files go here.
    { name: 'scratch', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'dshm', mountPath: SHM_MOUNT },
    { name: 'scratch', mountPath: SCRATCH_MOUNT },
    { name: 'tmp', mountPath: TMP_MOUNT },
  ];
  if (spec.data !== undefined) {
    vols.push({ name: 'data', ...volumeSource(spec.data, true) });
    mounts.push({ name: 'data', mountPath: DATA_MOUNT, readOnly: true });
  }
  if (spec.checkpoint !== undefined) {
    vols.push({ name: 'checkpoints', ...volumeSource(spec.checkpoint, false) });
    mounts.push({ name: 'checkpoints', mountPath: CHECKPOINT_MOUNT });
  }
  // The author's, under a prefix none of the operator's volume names has.
  for (const extra of spec.volumes ?? []) {
    vols.push({ name: `user-${extra.name}`, ...(extra.volume as object) });
    mounts.push({ name: `user-${extra.name}`, mountPath: extra.mountPath, readOnly: extra.readOnly });
  }
  return { volumes: vols, mounts };
}

function resources(job: SimCLRJob): NonNullable<V1Container['resources']> {
  const r = job.spec.resources;
  const amounts: Record<string, string> = {};
  if (r.cpu !== undefined) amounts.cpu = String(r.cpu);
  if (r.memory !== undefined) amounts.memory = String(r.memory);
  if (r.gpu > 0) amounts['nvidia.com/gpu'] = String(r.gpu);
  return { requests: { ...amounts }, limits: { ...amounts } };
}

function trainerContainer(job: SimCLRJob, rank: number, mounts: V1VolumeMount[]): V1Container {
  return {
    name: TRAINER_CONTAINER,
    image: job.spec.image,
    imagePullPolicy: job.spec.imagePullPolicy,
    args: trainerArgs(job, rank),
    env: rankEnv(job, rank),
    ports: [
      { name: 'rendezvous', containerPort: job.spec.masterPort },
      { name: 'progress', containerPort: job.spec.progressPort },
    ],
    resources: resources(job),
    volumeMounts: mounts,
    // The trainer writes its one-line reason there; without it (a crash before main), the log's tail.
    terminationMessagePath: DEFAULT_TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
    },
  };
}

/** Pod Security `restricted`: the image's non-root user, its group owning mounted volumes (a fresh checkpoint claim
 * is root-owned otherwise), the runtime's default seccomp profile. */
const POD_SECURITY: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: TRAINER_UID,
  runAsGroup: TRAINER_UID,
  fsGroup: TRAINER_UID,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The pod of one rank in one restart generation. */
export function desiredPod(job: SimCLRJob, rank: number, generation: number): V1Pod {
  const { volumes: vols, mounts } = volumes(job);
  const s = job.spec.scheduling ?? {};
  const meta = job.spec.podTemplate?.metadata ?? {};
  const group = podGroupMembership(job);
  const annotations = { ...meta.annotations, ...group.annotations };
  const schedulerName = group.schedulerName ?? s.schedulerName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(job.metadata.name, rank),
      namespace: job.metadata.namespace,
      // The operator's labels win: the Service, the watches and the restart logic select pods by them.
      labels: {
        ...meta.labels,
        ...group.labels,
        ...jobLabels(job),
        [LABEL_RANK]: String(rank),
        [LABEL_RESTART_GENERATION]: String(generation),
      },
      ...(Object.keys(annotations).length > 0 && { annotations }),
      ownerReferences: [ownerReference(job)],
    },
    spec: {
      restartPolicy: 'Never',
      // On SIGTERM the ranks finish their step and rank 0 checkpoints it (a planned stop loses no step) before this.
      terminationGracePeriodSeconds: job.spec.runPolicy.terminationGracePeriodSeconds,
      hostname: podName(job.metadata.name, rank),
      subdomain: serviceName(job.metadata.name),
      // Trainers never call the Kubernetes API: no token in the pod.
      automountServiceAccountToken: false,
      securityContext: POD_SECURITY,
      containers: [trainerContainer(job, rank, mounts)],
      volumes: vols,
      ...(s.nodeSelector !== undefined && { nodeSelector: s.nodeSelector }),
      ...(s.tolerations !== undefined && { tolerations: s.tolerations }),
      ...(s.affinity !== undefined && { affinity: s.affinity }),
      // Opaque core/v1 objects in the CRD: the apiserver validates them when the pod is created.
      ...(s.topologySpreadConstraints !== undefined &&
        { topologySpreadConstraints: s.topologySpreadConstraints as unknown as V1TopologySpreadConstraint[] }),
      ...(s.priorityClassName !== undefined && { priorityClassName: s.priorityClassName }),
      ...(schedulerName !== undefined && { schedulerName }),
      ...(s.runtimeClassName !== undefined && { runtimeClassName: s.runtimeClassName }),
    },
  };
}

/** All pods of a generation, rank order. */
export function desiredPods(job: SimCLRJob, generation: number): V1Pod[] {
  return Array.from({ length: job.spec.replicas }, (_, rank) => desiredPod(job, rank, generation));
}
