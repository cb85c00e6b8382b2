// TEST INFRASTRUCTURE. How the test node agent turns a pod spec into local processes: which program each container
// image stands for, where its volumes and working directory live on this machine, and how the pod's view of the
// world (mount paths, cluster DNS names) is rewritten to this machine's. Pure functions: no I/O, no clock.
import { join } from 'node:path';
import type { V1Container, V1EnvVar, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';

/** What a container image means on this machine: the program its ENTRYPOINT runs, and the image's ENV. */
export interface LocalImage {
  /** Image reference without registry and tag (`simclr-trainer` matches `ghcr.io/x/simclr-trainer:0.1.0`). */
  name: string;
  entrypoint: string[];
  env?: Record<string, string>;
}

/** One container as a local process. */
export interface ProcessPlan {
  container: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Host file standing for the container's terminationMessagePath (a kubelet mounts one file there). */
  terminationMessageFile: string;
  terminationMessagePolicy: 'File' | 'FallbackToLogsOnError';
  /** Host folders that must appear at a fixed path inside the process (a bind mount in a private mount namespace):
   * paths a program opens by a name of its own, not one given in env or args (the ServiceAccount token). */
  bindMounts: Array<{ hostDir: string; mountPath: string }>;
  readiness?: ProbePlan;
  liveness?: ProbePlan;
}

/** An httpGet probe, resolved to this machine's address (the pod's IP and a numeric port). */
export interface ProbePlan {
  url: string;
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface PodPlan {
  /** Folder of this pod (working directories, emptyDirs, logs). */
  podDir: string;
  /** Host folder of every volume, by volume name; the agent creates them. */
  volumeDirs: Record<string, string>;
  processes: ProcessPlan[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  /** The host folder holding the ServiceAccount's token, ca.crt and namespace (the agent fills it), when the pod
   * automounts it: what the ServiceAccount admission plugin and the kubelet do together. */
  serviceAccount?: { name: string; dir: string };
}

/** Where a kubelet mounts the pod's ServiceAccount credentials; client libraries read this fixed path. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface PlanOptions {
  /** The agent's root folder (pods' folders). */
  root: string;
  /** Where claims' and hostPaths' folders live (default <root>/volumes): they outlive pods, and outside a temporary
   * root they outlive the cluster. */
  volumesRoot?: string;
  images: readonly LocalImage[];
  /** PATH given to every process (a container gets nothing else from the agent's environment). */
  path: string;
  /** This pod's address on this machine (each pod gets its own loopback address); default 127.0.0.1. */
  podIP?: string;
  /** The apiserver as pods reach it (KUBERNETES_SERVICE_HOST/PORT, what in-cluster clients read). */
  apiserver?: { host: string; port: string };
}

/** A pod the agent cannot run; the message becomes the pod's Failed status, naming what to change. */
export class UnsupportedPod extends Error {}

/** `registry:5000/team/simclr-trainer:0.1.0@sha256:...` -> `simclr-trainer`. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0]!;
  const last = noDigest.split('/').pop()!;
  return last.split(':')[0]!;
}

/** Where a kubelet puts a container's termination message unless the pod says otherwise. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');

/** The host folder of a volume. Claims and hostPaths map to folders that outlive the pod (a restarted gang finds
 * its checkpoints); emptyDir lives and dies with the pod. hostPath is sandboxed under the root, not the real path. */
export function volumeDir(volumesRoot: string, pod: V1Pod, podDir: string, volume: V1Volume): string {
  const ns = pod.metadata?.namespace ?? 'default';
  if (volume.persistentVolumeClaim) return join(volumesRoot, 'pvc', ns, safe(volume.persistentVolumeClaim.claimName));
  if (volume.hostPath) return join(volumesRoot, 'hostpath', safe(volume.hostPath.path.replace(/^\/+/, '')));
  // secret and configMap: the agent writes their keys as files here before the containers start.
  if (volume.emptyDir || volume.secret || volume.configMap) return join(podDir, 'volumes', safe(volume.name));
  const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw new UnsupportedPod(`volume ${volume.name}: source ${kind} is not supported by the test node agent ` +
    '(use persistentVolumeClaim, hostPath, emptyDir, secret or configMap)');
}

/** Cluster DNS names (`<pod>.<service>.<ns>.svc[.cluster.local]`, optionally `:port`): every pod runs on this
 * machine, so each resolves to loopback. */
const CLUSTER_HOST = /^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+svc(?:\.cluster\.local)?\.?(?<port>:[0-9]+)?$/;

/** `0.0.0.0` or `0.0.0.0:port`: "every address of the pod", which on this shared machine is the pod's own IP. */
const ANY_ADDRESS = /^0\.0\.0\.0(?<port>:[0-9]+)?$/;

/** Rewrites one value as the pod would see it: a cluster host name -> 127.0.0.1, 0.0.0.0 -> the pod's IP (so two
 * pods listening on the same port do not collide), a path under a mount -> the mount's host folder. `--flag=value`
 * is rewritten in its value part. */
export function rewriteValue(value: string, mounts: ReadonlyArray<{ mountPath: string; hostDir: string }>,
  podIP = '127.0.0.1'): string {
  const eq = value.startsWith('--') ? value.indexOf('=') : -1;
  if (eq > 0) return value.slice(0, eq + 1) + rewriteValue(value.slice(eq + 1), mounts, podIP);
  const host = CLUSTER_HOST.exec(value);
  if (host) return `127.0.0.1${host.groups?.port ?? ''}`;
  const any = ANY_ADDRESS.exec(value);
  if (any) return `${podIP}${any.groups?.port ?? ''}`;
  // Longest mount first, so /data/sub wins over /data.
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (value === mp || value.startsWith(`${mp}/`)) return m.hostDir + value.slice(mp.length);
  }
  return value;
}

/** The few fieldRefs a pod's env may name, as the kubelet resolves them. */
function fieldValue(pod: V1Pod, e: V1EnvVar, container: string, podIP: string): string {
  const path = e.valueFrom?.fieldRef?.fieldPath;
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name, 'metadata.namespace': pod.metadata?.namespace ?? 'default',
    'metadata.uid': pod.metadata?.uid, 'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName ?? 'default', 'status.podIP': podIP, 'status.hostIP': podIP,
  };
  const v = path === undefined ? undefined : fields[path];
  if (v === undefined) {
    throw new UnsupportedPod(`container ${container}: env ${e.name} uses valueFrom ` +
      `${path === undefined ? Object.keys(e.valueFrom ?? {})[0] : `fieldRef ${path}`}, which the test node agent does ` +
      `not resolve (fieldRef ${Object.keys(fields).join(', ')} only)`);
  }
  return v;
}

/** An httpGet probe at this pod's address; exec and tcpSocket probes are refused (the agent runs none of them). */
function probePlan(c: V1Container, probe: V1Probe | undefined, kind: string, podIP: string): ProbePlan | undefined {
  if (probe === undefined) return undefined;
  const get = probe.httpGet;
  if (get === undefined) {
    throw new UnsupportedPod(`container ${c.name}: ${kind} probe: only httpGet probes are run by the test node agent`);
  }
  const port = typeof get.port === 'number' ? get.port
    : /^[0-9]+$/.test(String(get.port)) ? Number(get.port) : c.ports?.find((p) => p.name === get.port)?.containerPort;
  if (port === undefined) throw new UnsupportedPod(`container ${c.name}: ${kind} probe: port ${get.port} names no containerPort`);
  const scheme = (get.scheme ?? 'HTTP').toLowerCase();
  return { url: `${scheme}://${podIP}:${port}${get.path ?? '/'}`,
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000, periodMs: (probe.periodSeconds ?? 10) * 1000,
    timeoutMs: (probe.timeoutSeconds ?? 1) * 1000, failureThreshold: probe.failureThreshold ?? 3,
    successThreshold: probe.successThreshold ?? 1 };
}

function containerPlan(c: V1Container, pod: V1Pod, podDir: string, volumeDirs: Record<string, string>,
  opts: PlanOptions, serviceAccountDir: string | undefined): ProcessPlan {
  const podIP = opts.podIP ?? '127.0.0.1';
  const image = opts.images.find((i) => i.name === imageName(c.image ?? ''));
  if (c.command === undefined && image === undefined) {
    throw new UnsupportedPod(
      `container ${c.name}: image ${c.image ?? '(none)'} is not known to the test node agent ` +
        `(known: ${opts.images.map((i) => i.name).join(', ') || 'none'}); set its command or add the image to the agent`,
    );
  }
  const mounts = (c.volumeMounts ?? []).map((m) => {
    const hostDir = volumeDirs[m.name];
    if (hostDir === undefined) throw new UnsupportedPod(`container ${c.name}: volumeMount ${m.name} names no volume`);
    return { mountPath: m.mountPath, hostDir: m.subPath ? join(hostDir, m.subPath) : hostDir };
  });
  // The termination message file, mounted like a volume so the path in env or args reaches the process as its file.
  const terminationMessageFile = join(podDir, 'termination-message', safe(c.name));
  mounts.push({ mountPath: c.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH, hostDir: terminationMessageFile });
  // Docker semantics: command replaces the ENTRYPOINT, args replace CMD. The pod's command and args are paths as the
  // container sees them (rewritten); the image's entrypoint is this machine's own program (a path under /tmp stays, even
  // though the pod mounts an emptyDir at /tmp).
  const rewrite = (a: string): string => rewriteValue(a, mounts, podIP);
  const argv = [...(c.command?.map(rewrite) ?? image!.entrypoint), ...(c.args ?? []).map(rewrite)];
  const env: Record<string, string> = {
    PATH: opts.path,
    HOME: join(podDir, 'work', c.name),
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
    // What the kubelet sets from the `kubernetes` Service: here the apiserver's own address.
    ...(opts.apiserver ? { KUBERNETES_SERVICE_HOST: opts.apiserver.host, KUBERNETES_SERVICE_PORT: opts.apiserver.port } : {}),
    ...(image?.env ?? {}),
  };
  for (const e of c.env ?? []) {
    env[e.name] = e.valueFrom !== undefined ? fieldValue(pod, e, c.name, podIP) : rewriteValue(e.value ?? '', mounts, podIP);
  }
  // The image's WORKDIR is its own filesystem; here each container gets a fresh folder unless workingDir is a mount.
  const workDir = join(podDir, 'work', c.name);
  const cwd = c.workingDir !== undefined && rewriteValue(c.workingDir, mounts) !== c.workingDir
    ? rewriteValue(c.workingDir, mounts) : workDir;
  const bindMounts = serviceAccountDir === undefined ? [] : [{ hostDir: serviceAccountDir, mountPath: SERVICE_ACCOUNT_PATH }];
  const terminationMessagePolicy = c.terminationMessagePolicy === 'FallbackToLogsOnError' ? 'FallbackToLogsOnError' : 'File';
  return { container: c.name, command: argv[0]!, args: argv.slice(1), env, cwd, terminationMessageFile,
    terminationMessagePolicy, bindMounts, readiness: probePlan(c, c.readinessProbe, 'readiness', podIP),
    liveness: probePlan(c, c.livenessProbe, 'liveness', podIP) };
}

/** Plans every container of a pod, or throws UnsupportedPod naming the field the agent cannot honour. */
export function planPod(pod: V1Pod, opts: PlanOptions): PodPlan {
  const ns = pod.metadata?.namespace ?? 'default';
  const podDir = join(opts.root, 'pods', ns, `${safe(pod.metadata?.name ?? 'pod')}-${(pod.metadata?.uid ?? '').slice(0, 8)}`);
  if ((pod.spec?.initContainers ?? []).length > 0) {
    throw new UnsupportedPod('initContainers are not supported by the test node agent');
  }
  const volumeDirs: Record<string, string> = {};
  const volumesRoot = opts.volumesRoot ?? join(opts.root, 'volumes');
  for (const v of pod.spec?.volumes ?? []) volumeDirs[v.name] = volumeDir(volumesRoot, pod, podDir, v);
  // The ServiceAccount admission plugin (off in the test control plane) plus the kubelet would mount the token at
  // SERVICE_ACCOUNT_PATH unless the pod opts out or mounts something there itself.
  const ownMount = (pod.spec?.containers ?? []).some((c) => (c.volumeMounts ?? []).some((m) =>
    m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_PATH));
  const serviceAccount = pod.spec?.automountServiceAccountToken === false || ownMount ? undefined
    : { name: pod.spec?.serviceAccountName ?? 'default', dir: join(podDir, 'serviceaccount') };
  const processes = (pod.spec?.containers ?? []).map((c) =>
    containerPlan(c, pod, podDir, volumeDirs, opts, serviceAccount?.dir));
  const restartPolicy = pod.spec?.restartPolicy === 'Never' || pod.spec?.restartPolicy === 'OnFailure'
    ? pod.spec.restartPolicy : 'Always';
  return { podDir, volumeDirs, processes, restartPolicy, serviceAccount };
}
