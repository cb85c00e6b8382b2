// Helpers for operator tests against the real control plane (test/controlplane/harness.ts).
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCrd } from '../../operator/api/crd.js';
import { GROUP, PLURAL, VERSION, type SimCLRJob } from '../../operator/api/schema.js';
import { Config } from '../../operator/config.js';
import { startOperator, type RunningOperator } from '../../operator/operator.js';
import { repoRoot } from '../agent/node-agent.js';
import type { ControlPlane } from '../controlplane/harness.js';

import { eventually } from '../controlplane/eventually.js';

export { eventually };

export function kubeConfig(cp: ControlPlane): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  return kc;
}

/** Installs the generated CRD and waits until it is Established. */
export async function installCrd(cp: ControlPlane): Promise<void> {
  const res = await cp.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', buildCrd());
  if (res.status !== 201 && res.status !== 409) throw new Error(`CRD install: ${res.status} ${JSON.stringify(res.body)}`);
  await eventually('CRD established', async () => {
    const r = await cp.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${PLURAL}.${GROUP}`);
    const ok = r.body?.status?.conditions?.some((c: { type: string; status: string }) =>
      c.type === 'Established' && c.status === 'True');
    return ok ? true : undefined;
  });
}

/** Labels that make the apiserver's built-in PodSecurity admission refuse any pod below the `restricted` level. */
export const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
};

/** A namespace that enforces Pod Security `restricted`, as a shared GPU cluster's would: every pod the operator
 * creates in the tests must pass it. */
export async function createNamespace(cp: ControlPlane, name: string): Promise<void> {
  const r = await cp.request('POST', '/api/v1/namespaces',
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: RESTRICTED } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`namespace: ${r.status}`);
}

/** A namespaced Role with `rules`, bound to the service account `sa` of the same namespace. */
export async function bindRole(cp: ControlPlane, ns: string, name: string, rules: object[], sa: string): Promise<void> {
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}`;
  await cp.request('POST', `${rbac}/roles`, { metadata: { name }, rules });
  await cp.request('POST', `${rbac}/rolebindings`, {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }] });
}

export class Cluster {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  constructor(readonly cp: ControlPlane, readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async createJob(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SimCLRJob', metadata: { name }, spec } });
  }

  async getJob(namespace: string, name: string): Promise<SimCLRJob | undefined> {
    const r = await this.cp.request('GET', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}`);
    return r.status === 200 ? (r.body as SimCLRJob) : undefined;
  }

  async patchSpec(namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
    const r = await this.cp.request('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}`,
      { spec: patch }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`patch: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async pods(namespace: string, jobName: string): Promise<V1Pod[]> {
    const res = await this.core.listNamespacedPod({ namespace, labelSelector: `simclr.dev/job-name=${jobName}` });
    return res.items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  }

  /** Moves a pod to a phase through the status subresource, as a kubelet (or kwok) would. */
  async setPodPhase(namespace: string, name: string, phase: 'Running' | 'Succeeded' | 'Failed', exitCode = 1): Promise<void> {
    const terminated = phase === 'Running' ? undefined : { exitCode: phase === 'Succeeded' ? 0 : exitCode,
      reason: phase === 'Succeeded' ? 'Completed' : 'Error' };
    const status = {
      phase,
      podIP: '127.0.0.1',
      containerStatuses: [{ name: 'trainer', image: 'trainer:1', imageID: '', ready: phase === 'Running',
        restartCount: 0, state: terminated ? { terminated } : { running: { startedAt: new Date().toISOString() } } }],
    };
    const r = await this.cp.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, { status },
      'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`pod status: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async setGangPhase(namespace: string, jobName: string, phase: 'Running' | 'Succeeded' | 'Failed'): Promise<void> {
    for (const p of await this.pods(namespace, jobName)) await this.setPodPhase(namespace, p.metadata!.name!, phase);
  }

  async jobStatus(namespace: string, name: string): Promise<SimCLRJob['status']> {
    return (await this.getJob(namespace, name))?.status;
  }
}

export const testLog = pino({ level: process.env.SIMCLR_TEST_LOG ?? 'silent' });

export function operatorConfig(cp: ControlPlane, over: Partial<Record<string, unknown>> = {}): Config {
  return Config.parse({
    kubeconfig: cp.kubeconfigPath,
    listen: '127.0.0.1:0',
    auth: 'none',
    leaseNamespace: 'default',
    leaseName: 'simclr-operator-test',
    leaseDurationSeconds: 3,
    renewDeadlineSeconds: 2,
    retryPeriodSeconds: 0.3,
    workers: 2,
    progressIntervalSeconds: 5,
    ...over,
  });
}

export async function runOperator(cp: ControlPlane, over: Partial<Record<string, unknown>> = {}): Promise<RunningOperator> {
  return startOperator(operatorConfig(cp, over), testLog, await chartKubeConfig(cp));
}

const chartIdentities = new WeakMap<ControlPlane, Promise<KubeConfig>>();

/** The operator's identity in these tests: the chart's own ServiceAccount and RBAC (helm template of the chart, release
 * `simclr` in namespace `default`, where the tests' Leases live) and a token of that account, so a verb the chart
 * does not grant fails the suite. */
export function chartKubeConfig(cp: ControlPlane): Promise<KubeConfig> {
  let kc = chartIdentities.get(cp);
  if (kc === undefined) {
    kc = makeChartKubeConfig(cp);
    chartIdentities.set(cp, kc);
  }
  return kc;
}

async function makeChartKubeConfig(cp: ControlPlane): Promise<KubeConfig> {
  const helmHome = mkdtempSync(join(tmpdir(), 'simclr-helm-'));
  const chart = join(repoRoot(), 'charts', 'simclr-operator');
  const manifest = await new Promise<string>((resolve, reject) => {
    execFile(join(cp.binDir, 'helm'), ['template', 'simclr', chart, '--namespace', 'default',
      '--show-only', 'templates/serviceaccount.yaml', '--show-only', 'templates/rbac.yaml'], { env: { ...process.env, HELM_CACHE_HOME: join(helmHome, 'c'),
      HELM_CONFIG_HOME: join(helmHome, 'g'), HELM_DATA_HOME: join(helmHome, 'd') }, timeout: 60_000 },
    (err, stdout, stderr) => (err ? reject(new Error(`helm template: ${stderr || err.message}`)) : resolve(stdout)));
  });
  await cp.kubectl(['apply', '-f', '-'], { input: manifest });
  const tr = await cp.request('POST', '/api/v1/namespaces/default/serviceaccounts/simclr-simclr-operator/token',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } });
  if (tr.status !== 201) throw new Error(`token for the chart's service account: ${tr.status} ${JSON.stringify(tr.body)}`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cp.server, caData: Buffer.from(cp.caPem).toString('base64') }],
    users: [{ name: 'operator', token: tr.body.status.token as string }],
    contexts: [{ name: 'operator', cluster: 'test', user: 'operator' }],
    currentContext: 'operator',
  });
  return kc;
}
