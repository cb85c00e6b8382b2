// Gang scheduling, for real: a kube-scheduler built with scheduler-plugins' coscheduling plugin
// (test/controlplane/coscheduling, by build.sh) schedules the pods of a SimCLRJob whose spec.scheduling.podGroup is
// Coscheduling, on fake nodes (kwok). A 3-rank job on a cluster with room for 2 ranks has no rank bound, although 2
// would fit; once a node with room joins, all 3 are bound.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { RunningOperator } from '../../operator/operator.js';
import { freePort } from '../../trainer/collectives/free-port.js';
import { repoRoot } from '../agent/node-agent.js';
import { defaultBinDir, KWOK, requireBinaries, startControlPlane, type ControlPlane } from '../controlplane/harness.js';
import { Cluster, createNamespace, eventually, installCrd, kubeConfig, runOperator } from './helpers.js';

const NS = 'gang';
const SCHEDULER = 'scheduler-plugins-scheduler';
const COSCHEDULING_BIN = 'kube-scheduler-coscheduling';
let cp: ControlPlane;
let k: Cluster;
let op: RunningOperator;
let scheduler: ChildProcess;

/** As scheduler-plugins' manifests/coscheduling/scheduler-config.yaml, under a scheduler name of its own. */
const schedulerConfig = (kubeconfig: string): string => JSON.stringify({
  apiVersion: 'kubescheduler.config.k8s.io/v1',
  kind: 'KubeSchedulerConfiguration',
  leaderElection: { leaderElect: false },
  clientConnection: { kubeconfig },
  profiles: [{
    schedulerName: SCHEDULER,
    plugins: { multiPoint: { enabled: [{ name: 'Coscheduling' }] },
      queueSort: { enabled: [{ name: 'Coscheduling' }], disabled: [{ name: '*' }] } },
    pluginConfig: [{ name: 'Coscheduling', args: { permitWaitingTimeSeconds: 5 } }],
  }],
});

/** A fake node (kwok runs it) with room for `cpu` one-CPU ranks. */
const node = (name: string, cpu: string): object => ({
  apiVersion: 'v1', kind: 'Node',
  metadata: { name, annotations: { [KWOK.nodeAnnotation]: 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
  status: { capacity: { cpu, memory: '64Gi', pods: '110' }, allocatable: { cpu, memory: '64Gi', pods: '110' } },
});

before(async () => {
  requireBinaries(defaultBinDir(), [COSCHEDULING_BIN]);
  // Room for 2 one-CPU ranks; no default scheduler (every pod here names the coscheduling one).
  // The controller manager's node lifecycle controller lifts the not-ready taint admission puts on every new node.
  cp = await startControlPlane({ kwok: true, controllerManager: true, scheduler: false,
    nodes: [{ name: 'small', cpu: '2', gpus: 0 }] });
  k = new Cluster(cp, kubeConfig(cp));
  await installCrd(cp);
  await cp.kubectl(['apply', '-f', join(repoRoot(), 'test', 'fixtures', 'pod-group-crds', 'scheduling.x-k8s.io_podgroups.yaml')]);
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/podgroups.scheduling.x-k8s.io']);
  const config = join(cp.dir, 'coscheduling-config.json');
  writeFileSync(config, schedulerConfig(cp.kubeconfigPath));
  const log = createWriteStream(join(cp.dir, 'logs', `${COSCHEDULING_BIN}.log`));
  // Pods the Coscheduling plugin rejected wait for a pod or PodGroup event (scheduler-plugins' controller, not run
  // here, updates PodGroup status) or the unschedulable queue's flush, 5 minutes unless shortened: a new node alone
  // does not wake them.
  scheduler = spawn(join(defaultBinDir(), COSCHEDULING_BIN), [`--config=${config}`, '--bind-address=127.0.0.1',
    '--pod-max-in-unschedulable-pods-duration=10s', `--v=${process.env.SIMCLR_SCHED_V ?? '2'}`,
    `--secure-port=${await freePort()}`, `--cert-dir=${join(cp.dir, 'coscheduling-certs')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  scheduler.stdout!.pipe(log);
  scheduler.stderr!.pipe(log);
  await createNamespace(cp, NS);
  op = await runOperator(cp);
});
after(async () => {
  scheduler?.kill('SIGKILL');
  await op?.stop();
  await cp?.stop();
});

const bound = (pods: V1Pod[]): string[] => pods.filter((p) => p.spec?.nodeName).map((p) => p.metadata!.name!);

test('a 3-rank gang on room for 2 leaves every rank unbound, then all 3 are bound once room appears', { timeout: 240_000 }, async () => {
  await k.createJob(NS, 'gang3', { image: 'simclr-trainer:test', replicas: 3, training: { batchSize: 48 },
    resources: { cpu: 1, memory: '1Gi' },
    scheduling: { schedulerName: SCHEDULER, podGroup: { kind: 'Coscheduling', scheduleTimeoutSeconds: 5 } } });
  await eventually('3 pods', async () => ((await k.pods(NS, 'gang3')).length === 3 ? true : undefined));
  // The scheduler tried (and found no room for the whole gang) more than once, and bound nothing meanwhile.
  const tried = await eventually('the coscheduling scheduler rejecting the gang', async () => {
    const r = await cp.request('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=reason=FailedScheduling`);
    const e = (r.body.items as Array<{ involvedObject: { name: string }; message: string; count?: number }>)
      .filter((x) => x.involvedObject.name.startsWith('gang3-'));
    return e.length >= 2 ? e : undefined;
  }, 90_000, 500);
  // For want of room for the whole gang, not for any other reason (a tainted node would leave them unbound too).
  assert.ok(tried.some((e) => /Insufficient cpu/.test(e.message)), tried.map((e) => e.message).join(' | '));
  assert.ok(tried.every((e) => !/taint/.test(e.message)), tried.map((e) => e.message).join(' | '));
  await new Promise((r) => setTimeout(r, 12_000)); // past permitWaitingTimeSeconds and scheduleTimeoutSeconds
  const waiting = await k.pods(NS, 'gang3');
  assert.deepEqual(bound(waiting), [], `no rank bound: ${tried.map((e) => e.message).join(' | ')}`);
  assert.ok(waiting.every((p) => p.status?.phase === 'Pending'));

  await cp.request('POST', '/api/v1/nodes', node('more', '2'));
  const placed = await eventually('all 3 ranks bound', async () => {
    const pods = await k.pods(NS, 'gang3');
    return bound(pods).length === 3 ? pods : undefined;
  }, 120_000, 500).catch(async (err: Error) => {
    const events = (await cp.request('GET', `/api/v1/namespaces/${NS}/events`)).body.items
      .map((e: { reason: string; message: string; involvedObject: { name: string } }) => `${e.involvedObject.name} ${e.reason}: ${e.message}`);
    const more = (await cp.request('GET', '/api/v1/nodes/more')).body;
    throw new Error(`${err.message}; node more: ${JSON.stringify(more?.status?.conditions?.map((c: { type: string; status: string }) => [c.type, c.status]))}` +
      ` ${JSON.stringify(more?.spec?.taints)}; events: ${events.slice(-8).join(' | ')}`);
  });
  assert.deepEqual(new Set(placed.map((p) => p.spec!.nodeName)), new Set(['small', 'more']));
});
