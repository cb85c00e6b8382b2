// A real Kubernetes control plane for tests, on loopback: etcd + kube-apiserver, and optionally
// kube-controller-manager (garbage collection, namespace deletion), kube-scheduler and kwok (simulated nodes with
// nvidia.com/gpu capacity and simulated pod phases). Binaries come from test/controlplane/build.sh.
//
//   const cp = await startControlPlane({ controllerManager: true, kwok: true });
//   try { ... new KubeConfig().loadFromFile(cp.kubeconfigPath) ... } finally { await cp.stop(); }
//
// Every process is killed by stop(), on process exit, on SIGINT/SIGTERM, and by a watchdog process if this Node
// process dies without running its handlers (SIGKILL).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KWOK_STAGES_YAML } from './kwok-stages.js';
import { readJsonResponse } from './json-response.js';
import { freePort } from '../../trainer/collectives/free-port.js';

/** Labels and annotations understood by the kwok stages this harness installs. */
export const KWOK = {
  /** Annotation on Node objects that kwok manages. */
  nodeAnnotation: 'kwok.x-k8s.io/node',
  /** Label a Running pod with `"true"` to make it succeed (all containers exit 0). */
  completeLabel: 'kwok.simclr.dev/complete',
  /** Label a Running pod with `"true"` to make it fail. */
  failLabel: 'kwok.simclr.dev/fail',
  /** Annotation: exit code of the failed containers (default 1). */
  exitCodeAnnotation: 'kwok.simclr.dev/exit-code',
  /** Annotation: terminated reason of the failed containers (default "Error"). */
  reasonAnnotation: 'kwok.simclr.dev/reason',
  /** Annotation: terminated message of the failed containers (default "container failed"). */
  messageAnnotation: 'kwok.simclr.dev/message',
  /** Annotation: Go duration ("1500ms", "2s") to wait before completing/failing; default immediately. */
  delayAnnotation: 'kwok.simclr.dev/delay',
} as const;

export interface FakeNode {
  name: string;
  /** nvidia.com/gpu capacity (default 8). */
  gpus?: number;
  /** CPU capacity (default "64"). */
  cpu?: string;
  /** Memory capacity (default "512Gi"). */
  memory?: string;
  /** Max pods (default "250"). */
  pods?: string;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }>;
}

export interface ControlPlaneOptions {
  /** Start kube-controller-manager (garbage collector, namespace lifecycle, ...). Default false. */
  controllerManager?: boolean;
  /** Start kwok with fake nodes (default one node `kwok-node-0` with 8 GPUs). Default false. */
  kwok?: boolean;
  /** Start kube-scheduler so pods get bound to the fake nodes. Default: same as `kwok`. */
  scheduler?: boolean;
  /** Fake nodes to create when `kwok` is on. */
  nodes?: FakeNode[];
  /** Where the binaries are. Default $SIMCLR_K8S_BIN, else ${SIMCLR_CACHE:-~/.cache/simclr-k8s}/bin. */
  binDir?: string;
  /** Extra kube-apiserver flags (`--name=value`), appended after the harness's own. */
  apiserverArgs?: string[];
  /** Time allowed for everything to become ready. Default 120 s (2 shared cores are slow). */
  startTimeoutMs?: number;
  /** Keep the temp dir (logs, etcd data) after stop(). Default: env SIMCLR_CP_KEEP=1. */
  keep?: boolean;
}

export interface ControlPlane {
  /** kubeconfig with the admin token (system:masters) and the apiserver's CA; for kubectl and client-node. */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Bearer token of the admin user (group system:masters). */
  token: string;
  /** PEM bundle that verifies the apiserver's serving certificate. */
  caPem: string;
  /** The temp dir holding logs (logs/<component>.log), certs, keys and etcd data. */
  dir: string;
  binDir: string;
  /** Names of the fake nodes (empty without kwok). */
  nodes: string[];
  /** Environment for child processes (KUBECONFIG set). */
  env: NodeJS.ProcessEnv;
  /** Runs kubectl against this control plane; rejects on a non-zero exit with stderr in the message. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Raw request to the apiserver as admin; JSON in and out. Resolves for every status (check `status`). */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>;
  /** kwok: make a Running pod succeed. */
  completePod(namespace: string, name: string): Promise<void>;
  /** kwok: make a Running pod fail with the given exit code / reason / message. */
  failPod(namespace: string, name: string, opts?: { exitCode?: number; reason?: string; message?: string }): Promise<void>;
  /** Kills every process, removes the temp dir (unless keep). Idempotent. */
  stop(): Promise<void>;
}

const BUILD_SH = 'test/controlplane/build.sh';

export function defaultBinDir(): string {
  if (process.env.SIMCLR_K8S_BIN) return resolve(process.env.SIMCLR_K8S_BIN);
  const cache = process.env.SIMCLR_CACHE ? resolve(process.env.SIMCLR_CACHE) : join(homedir(), '.cache', 'simclr-k8s');
  return join(cache, 'bin');
}

/** Throws a clear error naming build.sh when a binary is missing. */
export function requireBinaries(binDir: string, names: string[]): void {
  const missing = names.filter((n) => {
    try {
      accessSync(join(binDir, n), fsConstants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `control plane binaries missing in ${binDir}: ${missing.join(', ')}. ` +
        `Build them with \`${BUILD_SH}\` (cached; set SIMCLR_CACHE to change the cache folder, ` +
        `or SIMCLR_K8S_BIN to point at a folder holding them).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Process bookkeeping: every live child of every control plane, killed on exit.

const live = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killAllSync(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllSync();
      process.removeListener(sig, handler);
      // Keep the default behaviour (exit by that signal) unless someone else handles it too.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
  exitCode: number | null | undefined; // undefined while running
}

function httpGet(
  url: string,
  opts: { ca?: string; token?: string; insecure?: boolean; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolveReq, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const common = { method: 'GET', headers, timeout: opts.timeoutMs ?? 3000 };
    const onRes = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body }));
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { ...common, ca: opts.ca, rejectUnauthorized: !opts.insecure }, onRes)
        : httpRequest(u, common, onRes);
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------------

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const withKcm = options.controllerManager ?? false;
  const withKwok = options.kwok ?? false;
  const withScheduler = options.scheduler ?? withKwok;
  const binDir = options.binDir ?? defaultBinDir();
  const keep = options.keep ?? process.env.SIMCLR_CP_KEEP === '1';
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;

  const needed = ['etcd', 'kube-apiserver', 'kubectl'];
  if (withKcm) needed.push('kube-controller-manager');
  if (withScheduler) needed.push('kube-scheduler');
  if (withKwok) needed.push('kwok');
  requireBinaries(binDir, needed);
  installExitHooks();

  const dir = mkdtempSync(join(tmpdir(), 'simclr-cp-'));
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const procs: Proc[] = [];
  let stopped = false;

  // Watchdog: if this Node process disappears without running its exit hooks (SIGKILL, OOM), a tiny shell loop
  // kills the components and removes the temp dir. It reads the pids from a file we keep current.
  const pidFile = join(dir, 'pids');
  writeFileSync(pidFile, '');
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
        'for p in $(cat "$2" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; ' +
        '[ "$3" = 1 ] || rm -rf "$4"',
      'watchdog',
      String(process.pid),
      pidFile,
      keep ? '1' : '0',
      dir,
    ],
    { stdio: 'ignore', detached: true },
  );
  watchdog.unref();

  const writePids = (): void => {
    writeFileSync(pidFile, procs.filter((p) => p.exitCode === undefined && p.child.pid).map((p) => p.child.pid).join('\n'));
  };

  const launch = (name: string, bin: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc => {
    const log = join(logDir, `${name}.log`);
    const out = createWriteStream(log);
    out.write(`# ${bin} ${args.join(' ')}\n`);
    const child = spawn(join(binDir, bin), args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...extraEnv },
    });
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    live.add(child);
    const p: Proc = { name, child, log, exitCode: undefined, exited: Promise.resolve(null) };
    p.exited = new Promise((res) => {
      child.on('exit', (code, signal) => {
        p.exitCode = code ?? (signal ? -1 : null);
        live.delete(child);
        res(p.exitCode);
      });
      child.on('error', (err) => {
        out.write(`spawn error: ${String(err)}\n`);
        p.exitCode = -1;
        live.delete(child);
        res(-1);
      });
    });
    p.exited.then(() => out.end(), () => out.end());
    procs.push(p);
    writePids();
    return p;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const term = async (p: Proc): Promise<void> => {
      if (p.exitCode !== undefined) return;
      p.child.kill('SIGTERM');
      const done = await Promise.race([p.exited.then(() => true), sleep(3000).then(() => false)]);
      if (!done) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    };
    // Clients of the apiserver together, then the apiserver, then etcd.
    await Promise.all(procs.filter((p) => p.name !== 'etcd' && p.name !== 'kube-apiserver').map(term));
    for (const name of ['kube-apiserver', 'etcd']) {
      for (const p of procs.filter((q) => q.name === name)) await term(p);
    }
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* gone */
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`control plane files kept in ${dir}\n`);
  };

  const fail = async (what: string, p?: Proc): Promise<never> => {
    const logs = (p ? [p] : procs).map((q) => `--- ${q.name} (${q.log}) ---\n${tail(q.log)}`).join('\n');
    const keptDir = dir;
    await stop();
    throw new Error(`control plane: ${what}${keep ? ` (files in ${keptDir})` : ''}\n${logs}`);
  };

  const waitUntil = async (what: string, p: Proc | undefined, check: () => Promise<boolean>): Promise<void> => {
    for (;;) {
      if (p && p.exitCode !== undefined) return fail(`${p.name} exited with ${p.exitCode} while waiting for ${what}`, p);
      try {
        if (await check()) return;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) return fail(`timed out after ${timeoutMs} ms waiting for ${what}`, p);
      await sleep(200);
    }
  };

  try {
    // --- etcd ---------------------------------------------------------------------------------------------------
    const etcdPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = launch('etcd', 'etcd', [
      `--name=simclr-test`,
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=simclr-test=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=8589934592',
      '--log-level=warn',
    ]);
    await waitUntil('etcd /health', etcd, async () => {
      const r = await httpGet(`${etcdUrl}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    // --- kube-apiserver -----------------------------------------------------------------------------------------
    const token = randomBytes(24).toString('hex');
    const tokenFile = join(dir, 'tokens.csv');
    writeFileSync(tokenFile, `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    writeFileSync(saKey, privateKey, { mode: 0o600 });
    writeFileSync(saPub, publicKey);
    const certDir = join(dir, 'apiserver-certs');
    const apiPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = launch('kube-apiserver', 'kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // The "kubernetes" Service's endpoints would be 127.0.0.1, which Endpoints validation rejects.
      '--endpoint-reconciler-type=none',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      `--token-auth-file=${tokenFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--profiling=false',
      ...(options.apiserverArgs ?? []),
    ]);
    await waitUntil('kube-apiserver /readyz', apiserver, async () => {
      const r = await httpGet(`${server}/readyz`, { token, insecure: true });
      return r.status === 200;
    });
    // The self-signed serving cert file holds the serving cert followed by the CA that signed it.
    const caPem = readFileSync(join(certDir, 'apiserver.crt'), 'utf8');

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: simclr-test',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: simclr-test',
        '  context:',
        '    cluster: simclr-test',
        '    user: admin',
        '    namespace: default',
        'current-context: simclr-test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfigPath };

    const request = (method: string, path: string, body?: unknown, contentType = 'application/json') =>
      new Promise<{ status: number; body: any }>((resolveReq, reject) => {
        const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
        const req = httpsRequest(
          new URL(path, server),
          {
            method,
            ca: caPem,
            headers: {
              Authorization: `Bearer ${token}`,
              Accept: 'application/json',
              ...(data !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
            },
          },
          (res) => {
            readJsonResponse(res).then(resolveReq, reject);
          },
        );
        req.on('error', reject);
        if (data !== undefined) req.write(data);
        req.end();
      });

    // The admin kubeconfig doubles as the components' kubeconfig (system:masters); they run as this user.
    const starts: Array<Promise<void>> = [];

    // --- kube-controller-manager --------------------------------------------------------------------------------
    if (withKcm) {
      const port = await freePort();
      const kcm = launch('kube-controller-manager', 'kube-controller-manager', [
        `--kubeconfig=${kubeconfigPath}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        `--service-account-private-key-file=${saKey}`,
        '--use-service-account-credentials=false',
        '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller',
        '--profiling=false',
      ]);
      starts.push(
        waitUntil('kube-controller-manager /healthz', kcm, async () => {
          const r = await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true });
          return r.status === 200;
        }),
      );
    }

    // --- kube-scheduler -----------------------------------------------------------------------------------------
    if (withScheduler) {
      const port = await freePort();
      const sched = launch('kube-scheduler', 'kube-scheduler', [
        `--kubeconfig=${kubeconfigPath}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'scheduler-certs')}`,
        '--profiling=false',
      ]);
      starts.push(
        waitUntil('kube-scheduler /healthz', sched, async () => {
          const r = await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true });
          return r.status === 200;
        }),
      );
    }

    // --- kwok ---------------------------------------------------------------------------------------------------
    const nodeSpecs: FakeNode[] = withKwok ? (options.nodes ?? [{ name: 'kwok-node-0' }]) : [];
    if (withKwok) {
      const stagesPath = join(dir, 'kwok-stages.yaml');
      writeFileSync(stagesPath, KWOK_STAGES_YAML);
      const kwokHome = join(dir, 'kwok-home');
      mkdirSync(kwokHome);
      const kwok = launch(
        'kwok',
        'kwok',
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--config=${stagesPath}`,
          '--manage-all-nodes=false',
          `--manage-nodes-with-annotation-selector=${KWOK.nodeAnnotation}=fake`,
          '--cidr=10.244.0.1/16',
        ],
        { HOME: kwokHome },
      );
      for (const n of nodeSpecs) {
        const node = {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: n.name,
            annotations: { [KWOK.nodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
            labels: {
              'kubernetes.io/hostname': n.name,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
              type: 'kwok',
              ...(n.labels ?? {}),
            },
          },
          spec: { taints: n.taints ?? [] },
          status: {
            capacity: {
              cpu: n.cpu ?? '64',
              memory: n.memory ?? '512Gi',
              pods: n.pods ?? '250',
              'nvidia.com/gpu': String(n.gpus ?? 8),
            },
            allocatable: {
              cpu: n.cpu ?? '64',
              memory: n.memory ?? '512Gi',
              pods: n.pods ?? '250',
              'nvidia.com/gpu': String(n.gpus ?? 8),
            },
            nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', kubeProxyVersion: 'fake' },
          },
        };
        const r = await request('POST', '/api/v1/nodes', node);
        if (r.status !== 201) return await fail(`creating node ${n.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      }
      starts.push(
        waitUntil(`kwok nodes Ready (${nodeSpecs.map((n) => n.name).join(', ')})`, kwok, async () => {
          for (const n of nodeSpecs) {
            const r = await request('GET', `/api/v1/nodes/${n.name}`);
            const ready = (r.body?.status?.conditions ?? []).some(
              (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
            );
            if (!ready) return false;
          }
          return true;
        }),
      );
    }
    await Promise.all(starts);

    const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
      new Promise<{ stdout: string; stderr: string }>((resolveRun, reject) => {
        const child = execFile(
          join(binDir, 'kubectl'),
          [`--kubeconfig=${kubeconfigPath}`, ...args],
          { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
          (err, stdout, stderr) => {
            if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
            else resolveRun({ stdout, stderr });
          },
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
        else child.stdin?.end();
      });

    const patchPod = async (namespace: string, name: string, patch: unknown): Promise<void> => {
      const r = await request(
        'PATCH',
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
        patch,
        'application/merge-patch+json',
      );
      if (r.status !== 200) throw new Error(`patching pod ${namespace}/${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    };

    return {
      kubeconfigPath,
      server,
      token,
      caPem,
      dir,
      binDir,
      nodes: nodeSpecs.map((n) => n.name),
      env,
      kubectl,
      request,
      completePod: (namespace, name) =>
        patchPod(namespace, name, { metadata: { labels: { [KWOK.completeLabel]: 'true' } } }),
      failPod: (namespace, name, o = {}) =>
        patchPod(namespace, name, {
          metadata: {
            labels: { [KWOK.failLabel]: 'true' },
            annotations: {
              ...(o.exitCode !== undefined ? { [KWOK.exitCodeAnnotation]: String(o.exitCode) } : {}),
              ...(o.reason !== undefined ? { [KWOK.reasonAnnotation]: o.reason } : {}),
              ...(o.message !== undefined ? { [KWOK.messageAnnotation]: o.message } : {}),
            },
          },
        }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
