// A whole local cluster on this machine, for `make cluster` and the end-to-end test: the test control plane
// (etcd, kube-apiserver, kube-controller-manager for Deployments, garbage collection and volume binding,
// kube-scheduler), the test node agent (test/agent/node-agent.ts), which runs the scheduled pods as local processes
// and proxies Services, and the operator installed as a user installs it: `helm install simclr charts/simclr-operator`
// (the README's command; the chart brings the CRD, ServiceAccount, RBAC, Deployment and Service). The operator's pods
// are the chart's: they act with the chart's ServiceAccount and RBAC, elect a leader, pass their probes, and the REST
// API is reached through the chart's Service.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { NodeAgent, repoRoot } from '../agent/node-agent.js';
import type { LocalImage } from '../agent/pod-plan.js';
import { eventually } from './eventually.js';
import { startControlPlane, type ControlPlane } from './harness.js';
import { readJsonResponse } from './json-response.js';

export const CRD_FILE = 'crds/simclr.dev_simclrjobs.yaml';

/** Claims' folders (data sets, checkpoints: what users produce) live outside the cluster's temporary folder, so no
 * Ctrl-C, crash or cleanup of make cluster deletes them; the next make cluster finds them under the same claim names. */
export function clusterVolumesDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SIMCLR_CLUSTER_VOLUMES) return env.SIMCLR_CLUSTER_VOLUMES;
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'simclr-k8s', 'cluster-volumes');
}

/** What `make cluster` and the tests install: the README's quickstart line, word for word
 * (test/docs/readme-commands.test.ts checks that the README still says it). */
export const HELM_INSTALL = 'helm install simclr charts/simclr-operator';
export const RELEASE = 'simclr';
/** The chart's full name for release `simclr`: its Deployment, Service, ServiceAccount, Lease and TLS Secret. */
export const OPERATOR = 'simclr-simclr-operator';
/** Services' cluster IPs come from a loopback range, so this machine can listen on them (the node agent's proxy). */
export const SERVICE_RANGE = '127.96.0.0/16';

export interface LocalClusterOptions {
  /** Appended to HELM_INSTALL, e.g. ['--set', 'operator.auth=none'] (the README's line is run as it is without). */
  helmArgs?: string[];
  /** Keep the control plane's folder (logs, pod folders, volumes) after stop(). */
  keep?: boolean;
  /** Claims' and hostPaths' folders here rather than in the control plane's folder: never deleted by stop(). */
  volumesDir?: string;
  /** One line per notable event of the node agent. */
  log?: (line: string) => void;
  /** Images the node agent can run (default: the trainer image only). */
  images?: LocalImage[];
}

export interface LocalCluster {
  cp: ControlPlane;
  agent: NodeAgent;
  /** The chart's Service: http(s)://<cluster IP>:8080, reached through the node agent's Service proxy. */
  operatorUrl: string;
  /** A GET on the operator's REST API through its Service, with the admin's bearer token and the chart's certificate
   * as the CA. */
  operatorGet(path: string): Promise<{ status: number; body: any }>;
  /** The operator's pods (the chart's Deployment), oldest first. */
  operatorPods(): Promise<V1Pod[]>;
  /** The pod holding the leader-election Lease, if any. */
  leader(): Promise<string | undefined>;
  /** helm with the cluster's kubeconfig and its own helm folders. */
  helm(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** The compiled entry points a local cluster runs; a clear error when `npx tsc -p .` has not been run. */
export function requireBuild(root: string): { operatorMain: string; trainerMain: string } {
  const operatorMain = join(root, 'dist', 'operator', 'main.js');
  const trainerMain = join(root, 'dist', 'trainer', 'cli', 'main.js');
  for (const f of [operatorMain, trainerMain]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build first (\`make build\` or \`npx tsc -p .\`)`);
  }
  return { operatorMain, trainerMain };
}

export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const root = repoRoot();
  requireBuild(root);
  const cp = await startControlPlane({ controllerManager: true, scheduler: true, keep: opts.keep,
    apiserverArgs: [`--service-cluster-ip-range=${SERVICE_RANGE}`] });
  let agent: NodeAgent | undefined;
  const stop = async (): Promise<void> => {
    await agent?.stop();
    await cp.stop();
  };
  try {
    const log = opts.log;
    agent = await NodeAgent.start({ kubeconfig: cp.kubeconfigPath, root: join(cp.dir, 'node-agent'),
      volumesRoot: opts.volumesDir, images: opts.images,
      log: log === undefined ? undefined : (line) => log(`node-agent: ${line}`) });
    const helmHome = join(cp.dir, 'helm');
    mkdirSync(helmHome, { recursive: true });
    const helmEnv = { ...cp.env, HELM_CACHE_HOME: helmHome, HELM_CONFIG_HOME: helmHome, HELM_DATA_HOME: helmHome };
    const helm = (args: string[]): Promise<string> => new Promise((resolve, reject) => {
      execFile(join(cp.binDir, 'helm'), args, { cwd: root, env: helmEnv, timeout: 300_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`helm ${args.join(' ')}: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      });
    });
    await helm([...HELM_INSTALL.split(' ').slice(1), ...(opts.helmArgs ?? [])]);
    // Both replicas ready (their readiness probes pass once the caches are synced), then one of them leads.
    await cp.kubectl(['rollout', 'status', `deployment/${OPERATOR}`, '--timeout=180s'], { timeoutMs: 190_000 })
      .catch(async () => {
        throw new Error(`the chart's operator did not become ready: ${await podsSummary(cp)}`);
      });
    const svc = (await cp.request('GET', `/api/v1/namespaces/default/services/${OPERATOR}`)).body;
    const values = JSON.parse(await helm(['get', 'values', RELEASE, '--all', '-o', 'json'])) as {
      tls: { enabled: boolean } };
    const operatorUrl = `${values.tls.enabled ? 'https' : 'http'}://${svc.spec.clusterIP}:${svc.spec.ports[0].port}`;
    const secret = async (): Promise<string | undefined> => {
      const r = await cp.request('GET', `/api/v1/namespaces/default/secrets/${OPERATOR}-tls`);
      return r.status === 200 ? Buffer.from(r.body.data['tls.crt'], 'base64').toString('utf8') : undefined;
    };
    const operatorGet = async (path: string): Promise<{ status: number; body: any }> => {
      const url = new URL(path, operatorUrl);
      const headers = { Authorization: `Bearer ${cp.token}`, Accept: 'application/json' };
      const ca = url.protocol === 'https:' ? await secret() : undefined;
      return new Promise((resolve, reject) => {
        // The certificate names the Service's DNS names, not its IP: verify it as a pod resolving that name would.
        const req = url.protocol === 'https:'
          ? httpsRequest(url, { headers, ca, servername: `${OPERATOR}.default.svc` }, (res) => void readJsonResponse(res).then(resolve, reject))
          : httpRequest(url, { headers }, (res) => void readJsonResponse(res).then(resolve, reject));
        req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path}: timed out`)));
        req.on('error', reject);
        req.end();
      });
    };
    const operatorPods = async (): Promise<V1Pod[]> => {
      const r = await cp.request('GET', `/api/v1/namespaces/default/pods?labelSelector=${
        encodeURIComponent(`app.kubernetes.io/name=simclr-operator,app.kubernetes.io/instance=${RELEASE}`)}`);
      return (r.body.items as V1Pod[]).sort((x, y) =>
        String(x.metadata?.creationTimestamp).localeCompare(String(y.metadata?.creationTimestamp)));
    };
    const leader = async (): Promise<string | undefined> => {
      const r = await cp.request('GET', `/apis/coordination.k8s.io/v1/namespaces/default/leases/${OPERATOR}`);
      return r.status === 200 ? (r.body.spec?.holderIdentity || undefined) : undefined;
    };
    await eventually('an operator pod leading (the Lease)', leader, 60_000, 200);
    await eventually('the REST API through the Service', async () =>
      ((await operatorGet('/readyz').catch(() => undefined))?.status === 200 ? true : undefined), 30_000, 200);
    return { cp, agent, operatorUrl, operatorGet, operatorPods, leader, helm, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One line per operator pod: phase, readiness, restarts and the container's state, for an error message. */
async function podsSummary(cp: ControlPlane): Promise<string> {
  const r = await cp.request('GET', `/api/v1/namespaces/default/pods?labelSelector=${
    encodeURIComponent(`app.kubernetes.io/instance=${RELEASE}`)}`);
  return ((r.body?.items ?? []) as V1Pod[]).map((p) => {
    const cs = p.status?.containerStatuses?.[0];
    const state = cs?.state?.waiting ? `waiting ${cs.state.waiting.reason}: ${cs.state.waiting.message ?? ''}`
      : cs?.state?.terminated ? `exited ${cs.state.terminated.exitCode}` : cs?.state?.running ? 'running' : 'no container';
    return `${p.metadata?.name} ${p.status?.phase} ready=${cs?.ready ?? false} restarts=${cs?.restartCount ?? 0} ${state}`;
  }).join('; ') || 'no pods';
}
