// TEST INFRASTRUCTURE, not a product component: "kubelet-lite" for the local control plane. It registers one Node,
// runs every pod bound to it (spec.nodeName) as local processes (see pod-plan.ts for how a container maps to a
// process), reports phase, container states, exit codes, termination messages (terminationMessagePath, reached by
// the process through an env value or arg equal to that path; FallbackToLogsOnError) and podIP through the pod
// status subresource as a kubelet would, kills a pod's processes when the pod is deleted and then confirms the
// deletion, keeps the Node's Ready heartbeat, and provisions a host folder (a PersistentVolume pre-bound to the
// claim) for each Pending claim so the scheduler can place pods that use PVCs. No containers, no isolation, no
// resource limits: every pod shares this machine's network (podIP 127.0.0.1) and filesystem.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { constants as osConstants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ContainerStatus, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { KubeClient } from './kube-client.js';
import { planPod, UnsupportedPod, type LocalImage, type PodPlan, type ProcessPlan } from './pod-plan.js';

export const DEFAULT_NODE_NAME = 'simclr-test-node';
const HEARTBEAT_MS = 10_000;
const RESYNC_MS = 2_000;
/** Longest a deleted pod's processes get between SIGTERM and SIGKILL (a kubelet honours up to the pod's grace). */
const MAX_GRACE_MS = 10_000;

export interface NodeAgentOptions {
  kubeconfig: string;
  nodeName?: string;
  /** Where pods' folders and volumes go; default a new temp folder. */
  root?: string;
  /** Where claims' and hostPaths' folders go instead of <root>/volumes (make cluster keeps them there, past the
   * cluster's life). */
  volumesRoot?: string;
  /** Images the agent can run; default the trainer image (simclr-trainer -> node dist/trainer/cli/main.js train). */
  images?: LocalImage[];
  /** Advertised capacity. Not enforced; generous so example jobs schedule on a small machine. */
  capacity?: { cpu?: string; memory?: string; pods?: string; gpus?: number };
  /** One line per notable event (pod started, exited, deleted). Default: none. */
  log?: (line: string) => void;
}

/** The repository root: the nearest ancestor of this file with the project's package.json. */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let d = from; ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'simclr-k8s') return d;
    if (dirname(d) === d) throw new Error(`no simclr-k8s package.json above ${from}`);
  }
}

/** The trainer image as trainer/Dockerfile builds it: ENTRYPOINT ["node", "dist/trainer/cli/main.js", "train"]. */
export function trainerImage(root = repoRoot()): LocalImage {
  const main = join(root, 'dist', 'trainer', 'cli', 'main.js');
  return { name: 'simclr-trainer', entrypoint: [process.execPath, main, 'train'], env: { NODE_ENV: 'production' } };
}

interface ContainerRun {
  name: string;
  child?: ChildProcess;
  logPath: string;
  startedAt: string;
  /** Set once the process has exited (or failed to start). */
  exit?: { exitCode: number; signal?: string; finishedAt: string; message?: string };
}

/** One pod this agent has started, by uid. Kept after it finished so tests can read logs and exit codes. */
export interface PodRun {
  namespace: string;
  name: string;
  uid: string;
  plan?: PodPlan;
  containers: ContainerRun[];
  startTime: string;
  /** Status writes for this pod, in order. */
  writes: Promise<void>;
  deleting: boolean;
  confirmed: boolean;
}

export class NodeAgent {
  readonly nodeName: string;
  readonly root: string;
  readonly volumesRoot: string;
  private readonly runs = new Map<string, PodRun>();
  private readonly client: KubeClient;
  private readonly images: LocalImage[];
  private readonly log: (line: string) => void;
  private readonly timers: NodeJS.Timeout[] = [];
  private watch?: { stop(): void };
  private stopped = false;
  private readonly provisioned = new Set<string>();

  private constructor(private readonly opts: NodeAgentOptions) {
    this.nodeName = opts.nodeName ?? DEFAULT_NODE_NAME;
    this.root = resolve(opts.root ?? mkdtempSync(join(tmpdir(), 'simclr-node-agent-')));
    this.volumesRoot = resolve(opts.volumesRoot ?? join(this.root, 'volumes'));
    this.client = KubeClient.fromFile(opts.kubeconfig);
    this.images = opts.images ?? [trainerImage()];
    this.log = opts.log ?? (() => undefined);
  }

  /** Registers the Node (Ready), then starts running the pods bound to it. */
  static async start(opts: NodeAgentOptions): Promise<NodeAgent> {
    const agent = new NodeAgent(opts);
    mkdirSync(agent.root, { recursive: true });
    await agent.register();
    agent.watch = agent.client.watch('/api/v1/pods', { fieldSelector: `spec.nodeName=${agent.nodeName}` },
      (type, pod: V1Pod) => agent.onPodEvent(type, pod));
    agent.timers.push(setInterval(() => void agent.heartbeat(), HEARTBEAT_MS));
    agent.timers.push(setInterval(() => void agent.resync(), RESYNC_MS));
    for (const t of agent.timers) t.unref();
    // Pods run in their own process groups: they must not outlive the process that runs the agent.
    process.once('exit', () => void agent.stop());
    await agent.resync();
    return agent;
  }

  /** Every pod run so far (finished ones included), oldest first. */
  podRuns(): PodRun[] {
    return [...this.runs.values()];
  }

  /** The newest run of a pod by name (a restarted gang reuses names with new uids). */
  podRun(namespace: string, name: string): PodRun | undefined {
    return this.podRuns().filter((r) => r.namespace === namespace && r.name === name).pop();
  }

  /** Host folder of a PersistentVolumeClaim's volume. */
  claimDir(namespace: string, claimName: string): string {
    return join(this.volumesRoot, 'pvc', namespace, claimName);
  }

  /** Kills every process (SIGKILL) and stops watching. The Node object stays (the apiserver usually goes next). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    for (const t of this.timers) clearInterval(t);
    for (const run of this.runs.values()) for (const c of run.containers) this.signal(c, 'SIGKILL');
  }

  // --- Node ------------------------------------------------------------------------------------------------------

  private nodeStatus(): Record<string, unknown> {
    const cap = this.opts.capacity ?? {};
    const amounts = { cpu: cap.cpu ?? String(Math.max(64, cpus().length)), memory: cap.memory ?? '256Gi',
      pods: cap.pods ?? '110', 'nvidia.com/gpu': String(cap.gpus ?? 0) };
    const now = new Date().toISOString();
    return {
      capacity: amounts,
      allocatable: amounts,
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: this.nodeName }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test node agent is running',
        lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: { architecture: process.arch === 'x64' ? 'amd64' : process.arch, operatingSystem: 'linux',
        kubeletVersion: 'simclr-test-node-agent', kubeProxyVersion: '', containerRuntimeVersion: 'local-process://',
        machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: '' },
    };
  }

  private async register(): Promise<void> {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.nodeName, labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux',
        'simclr.dev/test-node-agent': 'true' } },
      spec: {},
    };
    await this.client.expect([201, 409], 'POST', '/api/v1/nodes', node);
    await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.client.expect([200], 'PATCH', `/api/v1/nodes/${this.nodeName}/status`, { status: this.nodeStatus() },
        'application/merge-patch+json');
    } catch (err) {
      this.log(`node heartbeat failed: ${(err as Error).message}`);
    }
  }

  // --- pods ------------------------------------------------------------------------------------------------------

  private async resync(): Promise<void> {
    if (this.stopped) return;
    try {
      const pods = await this.client.expect([200], 'GET',
        `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.nodeName}`)}`);
      const seen = new Set<string>();
      for (const p of pods.items as V1Pod[]) {
        seen.add(p.metadata!.uid!);
        this.onPodEvent('MODIFIED', p);
      }
      // Pods that vanished without us seeing the event: nothing may keep running for them.
      for (const run of this.runs.values()) {
        if (!seen.has(run.uid)) for (const c of run.containers) this.signal(c, 'SIGKILL');
      }
      await this.provisionClaims();
    } catch (err) {
      this.log(`resync failed: ${(err as Error).message}`);
    }
  }

  private onPodEvent(type: string, pod: V1Pod): void {
    if (this.stopped || pod?.metadata?.uid === undefined || pod.spec?.nodeName !== this.nodeName) return;
    const run = this.runs.get(pod.metadata.uid);
    if (type === 'DELETED') {
      if (run) for (const c of run.containers) this.signal(c, 'SIGKILL');
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      void this.deletePod(pod, run);
      return;
    }
    if (run === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') this.startPod(pod);
  }

  private startPod(pod: V1Pod): void {
    const now = new Date().toISOString();
    const run: PodRun = { namespace: pod.metadata!.namespace ?? 'default', name: pod.metadata!.name!,
      uid: pod.metadata!.uid!, containers: [], startTime: now, writes: Promise.resolve(), deleting: false,
      confirmed: false };
    this.runs.set(run.uid, run);
    let plan: PodPlan;
    try {
      plan = planPod(pod, { root: this.root, volumesRoot: this.volumesRoot, images: this.images,
        path: process.env.PATH ?? '/usr/bin:/bin' });
    } catch (err) {
      if (!(err instanceof UnsupportedPod)) throw err;
      this.log(`pod ${run.namespace}/${run.name}: ${err.message}`);
      this.writeStatus(run, { phase: 'Failed', reason: 'UnsupportedByTestNodeAgent', message: err.message });
      return;
    }
    run.plan = plan;
    for (const dir of Object.values(plan.volumeDirs)) mkdirSync(dir, { recursive: true });
    for (const p of plan.processes) {
      mkdirSync(p.cwd, { recursive: true });
      mkdirSync(p.env.HOME!, { recursive: true });
      mkdirSync(dirname(p.terminationMessageFile), { recursive: true });
      writeFileSync(p.terminationMessageFile, ''); // a kubelet creates it empty, writable by the container
      const c: ContainerRun = { name: p.container, logPath: join(plan.podDir, `${p.container}.log`), startedAt: now };
      run.containers.push(c);
      const fd = openSync(c.logPath, 'a');
      try {
        // Own process group, so a deletion also reaches anything the container started.
        c.child = spawn(p.command, p.args, { cwd: p.cwd, env: p.env, stdio: ['ignore', fd, fd], detached: true });
      } finally {
        closeSync(fd);
      }
      c.child.on('error', (err) => this.onExit(run, c, 127, undefined, `cannot start ${p.command}: ${err.message}`));
      c.child.on('exit', (code, signal) => this.onExit(run, c, code ?? 128 + (signal ? osConstants.signals[signal] : 0),
        signal ?? undefined));
    }
    this.log(`pod ${run.namespace}/${run.name}: started ${plan.processes.map((p) => `${p.container} (pid ${run.containers
      .find((c) => c.name === p.container)?.child?.pid ?? '?'})`).join(', ')}; logs in ${plan.podDir}`);
    this.writeStatus(run, { phase: 'Running' });
  }

  private onExit(run: PodRun, c: ContainerRun, exitCode: number, signal?: string, message?: string): void {
    if (c.exit) return;
    const p = run.plan?.processes.find((x) => x.container === c.name);
    const reported = message ?? (p === undefined ? undefined : terminationMessage(p, c.logPath, exitCode));
    c.exit = { exitCode, signal, finishedAt: new Date().toISOString(), message: reported };
    this.log(`pod ${run.namespace}/${run.name}: container ${c.name} exited with ${exitCode}${signal ? ` (${signal})` : ''}`);
    if (run.containers.every((x) => x.exit)) {
      const failed = run.containers.some((x) => x.exit!.exitCode !== 0);
      if (!run.deleting) this.writeStatus(run, { phase: failed ? 'Failed' : 'Succeeded' });
    }
  }

  private signal(c: ContainerRun, sig: NodeJS.Signals): void {
    if (c.exit || c.child?.pid === undefined) return;
    try {
      process.kill(-c.child.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** Graceful stop (SIGTERM, then SIGKILL after the grace period), then the final delete a kubelet sends. */
  private async deletePod(pod: V1Pod, run: PodRun | undefined): Promise<void> {
    if (run?.deleting) return;
    if (run) run.deleting = true;
    if (run) {
      for (const c of run.containers) this.signal(c, 'SIGTERM');
      const graceMs = Math.min((pod.metadata?.deletionGracePeriodSeconds ?? 30) * 1000, MAX_GRACE_MS);
      const deadline = Date.now() + graceMs;
      while (run.containers.some((c) => !c.exit && c.child) && Date.now() < deadline) await sleep(100);
      for (const c of run.containers) this.signal(c, 'SIGKILL');
      while (run.containers.some((c) => !c.exit && c.child)) await sleep(50);
      await run.writes;
    }
    const path = `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}`;
    try {
      await this.client.expect([200, 404, 409], 'DELETE', path,
        { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } });
      if (run) run.confirmed = true;
      this.log(`pod ${pod.metadata!.namespace}/${pod.metadata!.name}: deleted`);
    } catch (err) {
      if (run) run.deleting = false; // the next resync tries again
      this.log(`pod ${pod.metadata!.namespace}/${pod.metadata!.name}: confirming deletion failed: ${(err as Error).message}`);
    }
  }

  private containerStatuses(run: PodRun): V1ContainerStatus[] {
    return run.containers.map((c) => {
      const image = run.plan?.processes.find((p) => p.container === c.name)?.command ?? '';
      const state = c.exit
        ? { terminated: { exitCode: c.exit.exitCode, reason: c.exit.exitCode === 0 ? 'Completed' : 'Error',
          ...(c.exit.signal || c.exit.message ? { message: c.exit.message ?? `killed by ${c.exit.signal}` } : {}),
          startedAt: c.startedAt, finishedAt: c.exit.finishedAt } }
        : { running: { startedAt: c.startedAt } };
      return { name: c.name, image, imageID: `local-process://${image}`, containerID: `local-process://${c.child?.pid ?? 0}`,
        ready: !c.exit, started: !c.exit, restartCount: 0, state } as unknown as V1ContainerStatus;
    });
  }

  /** Queues a status write; writes of one pod go out in order, each with the state at the time it is sent. */
  private writeStatus(run: PodRun, s: { phase: 'Running' | 'Succeeded' | 'Failed'; reason?: string; message?: string }): void {
    run.writes = run.writes.then(async () => {
      const ready = s.phase === 'Running' ? 'True' : 'False';
      const now = new Date().toISOString();
      const status = {
        phase: s.phase,
        reason: s.reason ?? null,
        message: s.message ?? null,
        hostIP: '127.0.0.1',
        hostIPs: [{ ip: '127.0.0.1' }],
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        startTime: run.startTime,
        conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type,
          status: type === 'PodScheduled' || type === 'Initialized' ? 'True' : ready, lastTransitionTime: now })),
        containerStatuses: this.containerStatuses(run),
      };
      const path = `/api/v1/namespaces/${run.namespace}/pods/${run.name}/status`;
      // The uid precondition in the patch keeps a write for an old pod off a new pod of the same name.
      const r = await this.client.request('PATCH', path, { metadata: { uid: run.uid }, status },
        'application/merge-patch+json');
      if (![200, 404, 409, 422].includes(r.status)) { // 409/422: the uid is another pod's now
        this.log(`pod ${run.namespace}/${run.name}: status write HTTP ${r.status} ${r.body?.message ?? ''}`);
      }
    }).catch((err: unknown) => this.log(`pod ${run.namespace}/${run.name}: status write failed: ${String(err)}`));
  }

  // --- storage ---------------------------------------------------------------------------------------------------

  /** A Pending, unbound claim gets a PersistentVolume (hostPath = the claim's folder here) pre-bound to it;
   * kube-controller-manager's binder completes the binding, after which the scheduler can place its pods. */
  private async provisionClaims(): Promise<void> {
    const claims = await this.client.expect([200], 'GET', '/api/v1/persistentvolumeclaims');
    for (const pvc of claims.items as V1PersistentVolumeClaim[]) {
      const uid = pvc.metadata!.uid!;
      if (pvc.spec?.volumeName || pvc.status?.phase !== 'Pending' || this.provisioned.has(uid)) continue;
      const ns = pvc.metadata!.namespace!;
      const dir = this.claimDir(ns, pvc.metadata!.name!);
      mkdirSync(dir, { recursive: true });
      const pv = {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `pvc-${uid}`, labels: { 'simclr.dev/test-node-agent': 'true' } },
        spec: {
          capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
          accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: pvc.spec?.storageClassName ?? '',
          volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
          hostPath: { path: dir, type: 'DirectoryOrCreate' },
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name: pvc.metadata!.name, uid },
        },
      };
      await this.client.expect([201, 409], 'POST', '/api/v1/persistentvolumes', pv);
      this.provisioned.add(uid);
      this.log(`claim ${ns}/${pvc.metadata!.name}: provisioned ${dir}`);
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Kubelet limits: the file's first 4096 bytes; with FallbackToLogsOnError and an empty file, a failed container's
 * last 80 log lines, at most 2048 bytes. */
const MAX_MESSAGE_BYTES = 4096;
const FALLBACK_LOG_LINES = 80;
const FALLBACK_LOG_BYTES = 2048;

/** The container's termination message as a kubelet reports it, or undefined when there is none. */
function terminationMessage(p: ProcessPlan, logPath: string, exitCode: number): string | undefined {
  let message = '';
  try {
    message = readFileSync(p.terminationMessageFile).subarray(0, MAX_MESSAGE_BYTES).toString('utf8');
  } catch {
    /* no file: no message */
  }
  if (message === '' && exitCode !== 0 && p.terminationMessagePolicy === 'FallbackToLogsOnError') {
    try {
      const lines = readFileSync(logPath, 'utf8').split('\n');
      const tail = lines.slice(-FALLBACK_LOG_LINES - 1).join('\n');
      message = Buffer.from(tail).subarray(-FALLBACK_LOG_BYTES).toString('utf8');
    } catch {
      /* no log */
    }
  }
  return message === '' ? undefined : message;
}
