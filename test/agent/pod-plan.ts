// TEST INFRASTRUCTURE. How the test node agent turns a pod spec into local processes: which program each container
// image stands for, where its volumes and working directory live on this machine, and how the pod's view of the
// world (mount paths, cluster DNS names) is rewritten to this machine's. Pure functions: no I/O, no clock.
import { join } from 'node:path';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';

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
}

export interface PodPlan {
  /** Folder of this pod (working directories, emptyDirs, logs). */
  podDir: string;
  /** Host folder of every volume, by volume name; the agent creates them. */
  volumeDirs: Record<string, string>;
  processes: ProcessPlan[];
}

export interface PlanOptions {
  /** The agent's root folder (pods' folders). */
  root: string;
  /** Where claims' and hostPaths' folders live (default <root>/volumes): they outlive pods, and outside a temporary
   * root they outlive the cluster. */
  volumesRoot?: string;
  images: readonly LocalImage[];
  /** PATH given to every process (a container gets nothing else from the agent's environment). */
  path: string;
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
  if (volume.emptyDir) return join(podDir, 'volumes', safe(volume.name));
  const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw new UnsupportedPod(
    `volume ${volume.name}: source ${kind} is not supported by the test node agent (use persistentVolumeClaim, hostPath or emptyDir)`,
  );
}

/** Cluster DNS names (`<pod>.<service>.<ns>.svc[.cluster.local]`, optionally `:port`): every pod runs on this
 * machine, so each resolves to loopback. */
const CLUSTER_HOST = /^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+svc(?:\.cluster\.local)?\.?(?<port>:[0-9]+)?$/;

/** Rewrites one value as the pod would see it: a cluster host name -> 127.0.0.1, a path under a mount -> the
 * mount's host folder. `--flag=value` is rewritten in its value part. */
export function rewriteValue(value: string, mounts: ReadonlyArray<{ mountPath: string; hostDir: string }>): string {
  const eq = value.startsWith('--') ? value.indexOf('=') : -1;
  if (eq > 0) return value.slice(0, eq + 1) + rewriteValue(value.slice(eq + 1), mounts);
  const host = CLUSTER_HOST.exec(value);
  if (host) return `127.0.0.1${host.groups?.port ?? ''}`;
  // Longest mount first, so /data/sub wins over /data.
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (value === mp || value.startsWith(`${mp}/`)) return m.hostDir + value.slice(mp.length);
  }
  return value;
}

function containerPlan(c: V1Container, pod: V1Pod, podDir: string, volumeDirs: Record<string, string>,
  opts: PlanOptions): ProcessPlan {
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
  const rewrite = (a: string): string => rewriteValue(a, mounts);
  const argv = [...(c.command?.map(rewrite) ?? image!.entrypoint), ...(c.args ?? []).map(rewrite)];
  const env: Record<string, string> = {
    PATH: opts.path,
    HOME: join(podDir, 'work', c.name),
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
    ...(image?.env ?? {}),
  };
  for (const e of c.env ?? []) {
    if (e.valueFrom !== undefined) {
      throw new UnsupportedPod(`container ${c.name}: env ${e.name} uses valueFrom, which the test node agent does not resolve`);
    }
    env[e.name] = rewriteValue(e.value ?? '', mounts);
  }
  // The image's WORKDIR is its own filesystem; here each container gets a fresh folder unless workingDir is a mount.
  const workDir = join(podDir, 'work', c.name);
  const cwd = c.workingDir !== undefined && rewriteValue(c.workingDir, mounts) !== c.workingDir
    ? rewriteValue(c.workingDir, mounts) : workDir;
  const terminationMessagePolicy = c.terminationMessagePolicy === 'FallbackToLogsOnError' ? 'FallbackToLogsOnError' : 'File';
  return { container: c.name, command: argv[0]!, args: argv.slice(1), env, cwd, terminationMessageFile,
    terminationMessagePolicy };
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
  const processes = (pod.spec?.containers ?? []).map((c) => containerPlan(c, pod, podDir, volumeDirs, opts));
  return { podDir, volumeDirs, processes };
}
