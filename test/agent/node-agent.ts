// TEST INFRASTRUCTURE, not a product component: "kubelet-lite" for the local control plane. It registers one Node,
// runs every pod bound to it (spec.nodeName) as local processes (see pod-plan.ts for how a container maps to a
// process), reports phase, container states, exit codes, termination messages (terminationMessagePath, reached by
// the process through an env value or arg equal to that path; FallbackToLogsOnError) and podIP through the pod
// status subresource as a kubelet would, kills a pod's processes when the pod is deleted and then confirms the
// deletion, keeps the Node's Ready heartbeat, and provisions a host folder (a PersistentVolume pre-bound to the
// claim) for each Pending claim so the scheduler can place pods that use PVCs. No containers, no isolation, no
// resource limits: every pod shares this machine's network (podIP 127.0.0.1) and filesystem.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { constants as osConstants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ContainerStatus, V1PersistentVolumeClaim, V1Pod, V1Volume } from '@kubernetes/client-node';
import { KubeClient } from './kube-client.js';
import { planPod, UnsupportedPod, type LocalImage, type PodPlan, type ProbePlan, type ProcessPlan } from './pod-plan.js';
import { ServiceProxy } from './service-proxy.js';

export const DEFAULT_NODE_NAME = 'simclr-test-node';
const HEARTBEAT_MS = 10_000;
const RESYNC_MS = 2_000;
/** Longest a deleted pod's processes get between SIGTERM and SIGKILL (a kubelet honours up to the pod's grace). */
const MAX_GRACE_MS = 10_000;
/** The kubelet's restart back-off: 10 s, doubled after each crash, at most 5 minutes. */
export const RESTART_BACKOFF = { baseMs: 10_000, maxMs: 300_000 };
/** Lifetime asked for ServiceAccount tokens (the kubelet's default), rewritten at 80% of it as the kubelet does. */
const TOKEN_SECONDS = 3607;

/** Delay before restart number `restartCount + 1` of a container: base, doubled per restart, capped. */
export function restartDelayMs(restartCount: number, backoff = RESTART_BACKOFF): number {
  return Math.min(backoff.baseMs * 2 ** Math.min(restartCount, 30), backoff.maxMs);
}

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
  /** Restart back-off of restartPolicy Always/OnFailure containers; default the kubelet's (RESTART_BACKOFF). */
  restartBackoff?: { baseMs: number; maxMs: number };
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

/** The operator image as operator/Dockerfile builds it: ENTRYPOINT ["node", "dist/operator/main.js"]. */
export function operatorImage(root = repoRoot()): LocalImage {
  const main = join(root, 'dist', 'operator', 'main.js');
  return { name: 'simclr-operator', entrypoint: [process.execPath, main], env: { NODE_ENV: 'production' } };
}

interface ExitInfo { exitCode: number; signal?: string; startedAt: string; finishedAt: string; message?: string }

interface ContainerRun {
  name: string;
  child?: ChildProcess;
  logPath: string;
  startedAt: string;
  /** Set once the process has exited (or failed to start); cleared when it is started again. */
  exit?: ExitInfo;
  /** Times the container was started again in place (restartPolicy Always/OnFailure). */
  restartCount: number;
  /** The previous run's end, shown as lastState. */
  lastExit?: ExitInfo;
  /** Set while the container waits for its restart (CrashLoopBackOff). */
  waiting?: { reason: string; message: string };
  /** The readiness probe's verdict (true without a probe once running). */
  ready: boolean;
  timers: NodeJS.Timeout[];
}

/** One pod this agent has started, by uid. Kept after it finished so tests can read logs and exit codes. */
export interface PodRun {
  namespace: string;
  name: string;
  uid: string;
  plan?: PodPlan;
  /** This pod's address on this machine. */
  podIP: string;
  containerNames: string[];
  /** Why the agent cannot run (unsupported) or cannot yet start (waiting for a Secret, ...) the pod. */
  blocked?: { reason: string; message: string };
  /** When the ServiceAccount token was last written. */
  tokenAt?: number;
  containers: ContainerRun[];
  startTime: string;
  /** Status writes for this pod, in order. */
  writes: Promise<void>;
  deleting: boolean;
  confirmed: boolean;
  /** Set while Secrets and the token are being written. */
  preparing: boolean;
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
  private podCount = 0;
  /** Whether a private mount namespace can be made (root or CAP_SYS_ADMIN): needed to put a ServiceAccount token
   * at the fixed path in-cluster clients read. */
  private readonly canMount: boolean;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly apiserver: { host: string; port: string };
  private readonly caPem: string;
  private proxy?: ServiceProxy;

  private constructor(private readonly opts: NodeAgentOptions) {
    this.nodeName = opts.nodeName ?? DEFAULT_NODE_NAME;
    this.root = resolve(opts.root ?? mkdtempSync(join(tmpdir(), 'simclr-node-agent-')));
    this.volumesRoot = resolve(opts.volumesRoot ?? join(this.root, 'volumes'));
    this.client = KubeClient.fromFile(opts.kubeconfig);
    this.images = opts.images ?? [trainerImage(), operatorImage()];
    this.log = opts.log ?? (() => undefined);
    this.backoff = opts.restartBackoff ?? RESTART_BACKOFF;
    this.canMount = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;
    const cluster = this.client.kc.getCurrentCluster()!;
    const url = new URL(cluster.server);
    this.apiserver = { host: url.hostname, port: url.port || '443' };
    this.caPem = cluster.caData ? Buffer.from(cluster.caData, 'base64').toString('utf8')
      : cluster.caFile ? readFileSync(cluster.caFile, 'utf8') : '';
  }

  /** Registers the Node (Ready), then starts running the pods bound to it. */
  static async start(opts: NodeAgentOptions): Promise<NodeAgent> {
    const agent = new NodeAgent(opts);
    mkdirSync(agent.root, { recursive: true });
    await agent.register();
    // This node's kube-proxy: Services' cluster IPs (loopback addresses here) forward to their ready pods.
    agent.proxy = await ServiceProxy.start(agent.client, agent.log);
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
    this.proxy?.stop();
    for (const run of this.runs.values()) {
      for (const c of run.containers) {
        this.clearTimers(c);
        this.signal(c, 'SIGKILL');
      }
    }
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
        const run = this.runs.get(p.metadata!.uid!);
        // A kubelet rewrites projected tokens at 80% of their lifetime.
        if (run?.tokenAt !== undefined && Date.now() - run.tokenAt > TOKEN_SECONDS * 800 && !run.deleting) {
          await this.writeServiceAccount(run, p).catch((err: unknown) =>
            this.log(`pod ${run.namespace}/${run.name}: token refresh failed: ${(err as Error).message}`));
        }
      }
      // Pods that vanished without us seeing the event: nothing may keep running for them.
      for (const run of this.runs.values()) {
        if (!seen.has(run.uid)) this.killAll(run);
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
      if (run) this.killAll(run);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      void this.deletePod(pod, run);
      return;
    }
    if (run === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') this.startPod(pod);
    // A pod waiting for something it needs (a Secret, its ServiceAccount) tries again; an unsupported one never does.
    else if (run?.blocked?.reason === 'ContainerCreating' && !run.preparing) void this.prepareAndRun(run, pod);
  }

  private killAll(run: PodRun): void {
    for (const c of run.containers) {
      this.clearTimers(c);
      this.signal(c, 'SIGKILL');
    }
  }

  private startPod(pod: V1Pod): void {
    const now = new Date().toISOString();
    // Every pod its own loopback address (127.1.x.y), so pods listening on the same port do not collide.
    const n = ++this.podCount;
    const run: PodRun = { namespace: pod.metadata!.namespace ?? 'default', name: pod.metadata!.name!,
      uid: pod.metadata!.uid!, podIP: `127.1.${(n >> 8) & 255}.${n & 255}`, containers: [],
      containerNames: (pod.spec?.containers ?? []).map((c) => c.name), startTime: now,
      writes: Promise.resolve(), deleting: false, confirmed: false, preparing: false };
    this.runs.set(run.uid, run);
    try {
      run.plan = planPod(pod, { root: this.root, volumesRoot: this.volumesRoot, images: this.images,
        path: process.env.PATH ?? '/usr/bin:/bin', podIP: run.podIP, apiserver: this.apiserver });
      if (run.plan.serviceAccount && !this.canMount) {
        throw new UnsupportedPod(`the ServiceAccount token must appear at its fixed path, which needs a private mount ` +
          `namespace (unshare --mount: root or CAP_SYS_ADMIN); set automountServiceAccountToken: false to run without it`);
      }
    } catch (err) {
      if (!(err instanceof UnsupportedPod)) throw err;
      // Said once and left Pending: a Failed pod would only be replaced by its controller, forever.
      this.log(`pod ${run.namespace}/${run.name}: ${err.message}`);
      run.blocked = { reason: 'UnsupportedByTestNodeAgent', message: err.message };
      this.writeStatus(run);
      return;
    }
    void this.prepareAndRun(run, pod);
  }

  /** Writes what the containers need before they start (Secrets, ConfigMaps, the ServiceAccount token), then starts
   * them; while something is missing the pod stays Pending (ContainerCreating) and the next resync tries again. */
  private async prepareAndRun(run: PodRun, pod: V1Pod): Promise<void> {
    const plan = run.plan!;
    run.preparing = true;
    try {
      for (const dir of Object.values(plan.volumeDirs)) mkdirSync(dir, { recursive: true });
      for (const v of pod.spec?.volumes ?? []) await this.fillVolume(run.namespace, v, plan.volumeDirs[v.name]!);
      if (plan.serviceAccount) await this.writeServiceAccount(run, pod);
    } catch (err) {
      const message = (err as Error).message;
      if (run.blocked?.message !== message) this.log(`pod ${run.namespace}/${run.name}: waiting: ${message}`);
      if (run.blocked?.message !== message) {
        run.blocked = { reason: 'ContainerCreating', message };
        this.writeStatus(run);
      }
      return;
    } finally {
      run.preparing = false;
    }
    if (run.deleting || this.stopped) return;
    run.blocked = undefined;
    for (const p of plan.processes) {
      mkdirSync(p.cwd, { recursive: true });
      mkdirSync(p.env.HOME!, { recursive: true });
      mkdirSync(dirname(p.terminationMessageFile), { recursive: true });
      const c: ContainerRun = { name: p.container, logPath: join(plan.podDir, `${p.container}.log`),
        startedAt: new Date().toISOString(), restartCount: 0, ready: false, timers: [] };
      run.containers.push(c);
      this.startContainer(run, c, p);
    }
    this.log(`pod ${run.namespace}/${run.name}: started ${run.containers.map((c) => `${c.name} (pid ${c.child?.pid ?? '?'})`)
      .join(', ')} at ${run.podIP}; logs in ${plan.podDir}`);
    this.writeStatus(run);
  }

  /** A Secret's or ConfigMap's keys as files in the volume's folder (all keys, or the listed items). */
  private async fillVolume(ns: string, v: V1Volume, dir: string): Promise<void> {
    const src = v.secret ? { kind: 'secrets', name: v.secret.secretName!, items: v.secret.items, optional: v.secret.optional }
      : v.configMap ? { kind: 'configmaps', name: v.configMap.name!, items: v.configMap.items, optional: v.configMap.optional }
        : undefined;
    if (src === undefined) return;
    const r = await this.client.request('GET', `/api/v1/namespaces/${ns}/${src.kind}/${src.name}`);
    if (r.status === 404 && src.optional) return;
    if (r.status !== 200) throw new Error(`volume ${v.name}: ${src.kind.slice(0, -1)} ${ns}/${src.name}: HTTP ${r.status}`);
    const files = new Map<string, Buffer>();
    for (const [k, b64] of Object.entries((r.body.data ?? {}) as Record<string, string>)) {
      files.set(k, src.kind === 'secrets' ? Buffer.from(b64, 'base64') : Buffer.from(b64, 'utf8'));
    }
    for (const [k, b64] of Object.entries((r.body.binaryData ?? {}) as Record<string, string>)) files.set(k, Buffer.from(b64, 'base64'));
    const wanted = src.items ?? [...files.keys()].map((key) => ({ key, path: key }));
    for (const { key, path } of wanted) {
      const data = files.get(key);
      if (data === undefined) throw new Error(`volume ${v.name}: ${src.name} has no key ${key}`);
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    }
  }

  /** token (a TokenRequest bound to the pod, as the kubelet asks), ca.crt and namespace. */
  private async writeServiceAccount(run: PodRun, pod: V1Pod): Promise<void> {
    const sa = run.plan!.serviceAccount!;
    const r = await this.client.request('POST', `/api/v1/namespaces/${run.namespace}/serviceaccounts/${sa.name}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS,
        // Bound to the pod as the kubelet's are; the apiserver binds only a pod that names its ServiceAccount (the
        // admission plugin that fills in `default` is off in the test control plane).
        ...(pod.spec?.serviceAccountName
          ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: run.name, uid: run.uid } } : {}) } });
    if (r.status !== 201 && r.status !== 200) {
      throw new Error(`a token for ServiceAccount ${run.namespace}/${sa.name}: HTTP ${r.status} ${r.body?.message ?? ''}`);
    }
    mkdirSync(sa.dir, { recursive: true });
    writeFileSync(join(sa.dir, 'token'), r.body.status.token as string);
    writeFileSync(join(sa.dir, 'ca.crt'), this.caPem);
    writeFileSync(join(sa.dir, 'namespace'), pod.metadata?.namespace ?? 'default');
    run.tokenAt = Date.now();
  }

  private startContainer(run: PodRun, c: ContainerRun, p: ProcessPlan): void {
    writeFileSync(p.terminationMessageFile, ''); // a kubelet creates it empty, writable by the container
    c.startedAt = new Date().toISOString();
    c.exit = undefined;
    c.waiting = undefined;
    c.ready = p.readiness === undefined;
    let command = p.command;
    let args = p.args;
    if (p.bindMounts.length > 0) {
      // A private mount namespace: the bind mounts are this process's alone (the host sees only an empty folder).
      for (const m of p.bindMounts) mkdirSync(m.mountPath, { recursive: true });
      command = 'unshare';
      args = ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
        'set -e; while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"', 'sh',
        ...p.bindMounts.flatMap((m) => [m.hostDir, m.mountPath]), '--', p.command, ...p.args];
    }
    const fd = openSync(c.logPath, 'a');
    try {
      // Own process group, so a deletion also reaches anything the container started.
      c.child = spawn(command, args, { cwd: p.cwd, env: p.env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    c.child.on('error', (err) => this.onExit(run, c, 127, undefined, `cannot start ${p.command}: ${err.message}`));
    c.child.on('exit', (code, signal) => this.onExit(run, c, code ?? 128 + (signal ? osConstants.signals[signal] : 0),
      signal ?? undefined));
    if (p.readiness) this.probe(run, c, p.readiness, (ok) => {
      if (ok !== c.ready) {
        c.ready = ok;
        this.writeStatus(run);
      }
    });
    if (p.liveness) this.probe(run, c, p.liveness, (ok) => {
      if (ok) return;
      this.log(`pod ${run.namespace}/${run.name}: container ${c.name} failed its liveness probe; restarting it`);
      this.signal(c, 'SIGTERM');
      const t = setTimeout(() => this.signal(c, 'SIGKILL'), MAX_GRACE_MS);
      t.unref();
      c.timers.push(t);
    });
  }

  /** Runs an httpGet probe every period after the initial delay; `onVerdict` gets each change past the thresholds. */
  private probe(run: PodRun, c: ContainerRun, probe: ProbePlan, onVerdict: (ok: boolean) => void): void {
    const child = c.child;
    let fails = 0;
    let oks = 0;
    const tick = async (): Promise<void> => {
      if (c.child !== child || c.exit || run.deleting) return;
      const ok = await probeOnce(probe.url, probe.timeoutMs);
      if (c.child !== child || c.exit || run.deleting) return;
      fails = ok ? 0 : fails + 1;
      oks = ok ? oks + 1 : 0;
      if (oks >= probe.successThreshold) onVerdict(true);
      if (fails >= probe.failureThreshold) onVerdict(false);
      const t = setTimeout(() => void tick(), probe.periodMs);
      t.unref();
      c.timers.push(t);
    };
    const first = setTimeout(() => void tick(), probe.initialDelayMs);
    first.unref();
    c.timers.push(first);
  }

  private clearTimers(c: ContainerRun): void {
    for (const t of c.timers) clearTimeout(t);
    c.timers = [];
  }

  private onExit(run: PodRun, c: ContainerRun, exitCode: number, signal?: string, message?: string): void {
    if (c.exit) return;
    this.clearTimers(c);
    const p = run.plan?.processes.find((x) => x.container === c.name);
    const reported = message ?? (p === undefined ? undefined : terminationMessage(p, c.logPath, exitCode));
    c.exit = { exitCode, signal, startedAt: c.startedAt, finishedAt: new Date().toISOString(), message: reported };
    c.ready = false;
    this.log(`pod ${run.namespace}/${run.name}: container ${c.name} exited with ${exitCode}${signal ? ` (${signal})` : ''}`);
    const policy = run.plan?.restartPolicy ?? 'Never';
    if (p !== undefined && !run.deleting && !this.stopped && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0))) {
      // Restarted in place, after a back-off that grows with each crash: the pod stays, so its controller never
      // replaces it (a Deployment's crashing pod must not multiply).
      const delay = restartDelayMs(c.restartCount, this.backoff);
      c.waiting = { reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${run.name}_${run.namespace}(${run.uid})` };
      const t = setTimeout(() => {
        if (run.deleting || this.stopped) return;
        c.lastExit = c.exit;
        c.restartCount++;
        this.startContainer(run, c, p);
        this.log(`pod ${run.namespace}/${run.name}: container ${c.name} restarted (${c.restartCount})`);
        this.writeStatus(run);
      }, delay);
      t.unref();
      c.timers.push(t);
    }
    if (!run.deleting && !this.stopped) this.writeStatus(run); // stopping: the apiserver goes next, nothing to tell
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
      for (const c of run.containers) {
        this.clearTimers(c); // no restart, no probe from here on
        this.signal(c, 'SIGTERM');
      }
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
    const terminated = (e: ExitInfo): Record<string, unknown> => ({ terminated: { exitCode: e.exitCode,
      reason: e.exitCode === 0 ? 'Completed' : 'Error',
      ...(e.signal || e.message ? { message: e.message ?? `killed by ${e.signal}` } : {}),
      startedAt: e.startedAt, finishedAt: e.finishedAt } });
    if (run.blocked) {
      return run.containerNames.map((name) => ({ name, image: '', imageID: '',
        ready: false, started: false, restartCount: 0, state: { waiting: run.blocked } }) as unknown as V1ContainerStatus);
    }
    return run.containers.map((c) => {
      const image = run.plan?.processes.find((p) => p.container === c.name)?.command ?? '';
      const state = c.waiting ? { waiting: c.waiting } : c.exit ? terminated(c.exit) : { running: { startedAt: c.startedAt } };
      const lastExit = c.waiting ? c.exit : c.lastExit;
      return { name: c.name, image, imageID: `local-process://${image}`, containerID: `local-process://${c.child?.pid ?? 0}`,
        ready: c.ready && !c.exit, started: !c.exit, restartCount: c.restartCount, state,
        ...(lastExit ? { lastState: terminated(lastExit) } : {}) } as unknown as V1ContainerStatus;
    });
  }

  /** The pod's phase as a kubelet computes it: Pending until its containers start; Running while any runs or
   * waits to be restarted; Succeeded or Failed once every container has exited for good. */
  private phase(run: PodRun): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
    if (run.blocked || run.containers.length === 0) return 'Pending';
    if (run.containers.some((c) => !c.exit || c.waiting)) return 'Running';
    return run.containers.some((c) => c.exit!.exitCode !== 0) ? 'Failed' : 'Succeeded';
  }

  /** Queues a status write; writes of one pod go out in order, each with the state at the time it is sent. */
  private writeStatus(run: PodRun): void {
    run.writes = run.writes.then(async () => {
      const phase = this.phase(run);
      const ready = phase === 'Running' && run.containers.every((c) => c.ready && !c.exit) ? 'True' : 'False';
      const now = new Date().toISOString();
      const status = {
        phase,
        reason: run.blocked?.reason === 'UnsupportedByTestNodeAgent' ? run.blocked.reason : null,
        message: run.blocked?.reason === 'UnsupportedByTestNodeAgent' ? run.blocked.message : null,
        hostIP: '127.0.0.1',
        hostIPs: [{ ip: '127.0.0.1' }],
        podIP: run.podIP,
        podIPs: [{ ip: run.podIP }],
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

/** One httpGet probe as a kubelet sends it: 200-399 passes; HTTPS certificates are not checked (nor does a kubelet). */
function probeOnce(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', rejectUnauthorized: false, headers: { 'User-Agent': 'kube-probe/1.34' } },
      (res) => {
        res.resume();
        resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 400);
      });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

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
