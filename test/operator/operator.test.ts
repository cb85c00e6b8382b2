// The operator against a real kube-apiserver + etcd (+ kube-controller-manager for garbage collection), built by
// test/controlplane/build.sh. No kubelet: tests move pods between phases through the pod status subresource.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finalProgressMessage, initialProgress } from '../../trainer/contract/index.js';
import { startControlPlane, type ControlPlane } from '../controlplane/harness.js';
import { desiredPod } from '../../operator/reconcile/desired.js';
import { parseSimCLRJob } from '../../operator/api/schema.js';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { RunningOperator } from '../../operator/operator.js';
import { bindRole, Cluster, createNamespace, eventually, installCrd, kubeConfig, runOperator } from './helpers.js';

const IMAGE = 'simclr-trainer:test';
let cp: ControlPlane;
let k: Cluster;

before(async () => {
  cp = await startControlPlane({ controllerManager: true });
  k = new Cluster(cp, kubeConfig(cp));
  await installCrd(cp);
});
after(async () => {
  await cp?.stop();
});

describe('the apiserver validates SimCLRJobs with the generated CRD', () => {
  before(() => createNamespace(cp, 'valid'));

  const rejects = async (name: string, spec: Record<string, unknown>, message: RegExp): Promise<void> => {
    await assert.rejects(k.createJob('valid', name, { image: IMAGE, ...spec }), (err: { body?: unknown }) => {
      assert.match(String(err.body), message);
      return true;
    });
  };

  test('batch size not divisible by replicas: the CEL message', () =>
    rejects('b', { replicas: 3, training: { batchSize: 256 } },
      /spec.training.batchSize is not divisible by spec.replicas/));
  test('replicas < 1', () => rejects('r', { replicas: 0 }, /spec.replicas.*greater than or equal to 1/));
  test('unknown architecture', () => rejects('a', { training: { arch: 'vgg16' } }, /spec.training.arch.*Unsupported value/));
  test('negative epochs', () => rejects('e', { training: { epochs: -1 } }, /spec.training.epochs/));
  test('name too long for pod hostnames', () =>
    rejects('x'.repeat(60), {}, /metadata.name.*must be at most 58 characters/));
  test('data with both claimName and volume', () =>
    rejects('d', { data: { claimName: 'a', volume: { emptyDir: {} } } }, /set exactly one of claimName or volume/));

  test('replicas, image and training cannot change under a running gang', async () => {
    await k.createJob('valid', 'fixed', { image: IMAGE, replicas: 2, training: { batchSize: 64 } });
    await assert.rejects(k.patchSpec('valid', 'fixed', { replicas: 4 }), /replicas, image and training are immutable/);
    await k.patchSpec('valid', 'fixed', { runPolicy: { suspend: true } });
  });

  test('a valid job is stored with every default filled in by the apiserver', async () => {
    await k.createJob('valid', 'ok', { image: IMAGE });
    const job = await k.getJob('valid', 'ok');
    const parsed = parseSimCLRJob(job); // what the apiserver stored is what the operator accepts
    assert.equal(parsed.spec.runPolicy.backoffLimit, 3);
    assert.equal((job as { spec: { training: { batchSize: number } } }).spec.training.batchSize, 256);
  });
});

describe('lifecycle with one operator', () => {
  const ns = 'life';
  let op: RunningOperator;
  before(async () => {
    await createNamespace(cp, ns);
    op = await runOperator(cp, { namespace: ns, leaseName: 'life' });
  });
  after(async () => {
    await op?.stop();
  });

  test('apply -> headless Service + N pods with labels, env, resources, owner', async () => {
    await k.createJob(ns, 'gang', { image: IMAGE, replicas: 3, training: { batchSize: 96 },
      resources: { gpu: 1, cpu: '2', memory: '4Gi', shmSize: '2Gi' } });
    const pods = await eventually('3 pods', async () => {
      const p = await k.pods(ns, 'gang');
      return p.length === 3 ? p : undefined;
    });
    const job = await k.getJob(ns, 'gang');
    assert.deepEqual(pods.map((p) => p.metadata?.name), ['gang-0', 'gang-1', 'gang-2']);
    for (const [rank, p] of pods.entries()) {
      assert.equal(p.metadata?.labels?.['simclr.dev/job-name'], 'gang');
      assert.equal(p.metadata?.labels?.['simclr.dev/rank'], String(rank));
      assert.equal(p.metadata?.ownerReferences?.[0]?.uid, job?.metadata.uid);
      assert.equal(p.spec?.hostname, `gang-${rank}`);
      assert.equal(p.spec?.subdomain, 'gang');
      const c = p.spec!.containers[0]!;
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
      assert.deepEqual(env, { RANK: String(rank), WORLD_SIZE: '3', MASTER_ADDR: 'gang-0.gang.life.svc',
        MASTER_PORT: '29500', SIMCLR_TERMINATION_MESSAGE_PATH: '/dev/termination-log' });
      assert.equal(c.resources?.limits?.['nvidia.com/gpu'], '1');
      assert.equal(c.resources?.requests?.memory, '4Gi');
      assert.ok(c.args?.includes('--batch-size=96'));
    }
    const svc = await k.core.readNamespacedService({ namespace: ns, name: 'gang' });
    assert.equal(svc.spec?.clusterIP, 'None');
    const np = await cp.request('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/gang`);
    assert.equal(np.status, 200);
    assert.deepEqual(np.body.spec.ingress[0], { from: [{ podSelector: { matchLabels: { 'simclr.dev/job-name': 'gang' } } }] });
    assert.deepEqual(np.body.spec.ingress[1].ports, [{ protocol: 'TCP', port: 29400 }]);
    assert.equal(np.body.metadata.ownerReferences[0].uid, job?.metadata.uid);
    const status = await eventually('status Pending + Created', async () => {
      const s = await k.jobStatus(ns, 'gang');
      return s?.conditions?.some((c) => c.type === 'Created' && c.status === 'True') ? s : undefined;
    });
    assert.equal(status?.phase, 'Pending');
    assert.equal(status?.observedGeneration, 1);
    await k.setGangPhase(ns, 'gang', 'Running');
    await eventually('Running', async () => ((await k.jobStatus(ns, 'gang'))?.phase === 'Running' ? true : undefined));
  });

  test("rank 0's progress document is polled into status (printer columns epoch, loss)", async () => {
    const doc = { ...initialProgress({ uid: 'prog', worldSize: 1, epochs: 10, totalSteps: 100 }), phase: 'training',
      epoch: 4, step: 40, loss: 2.5, imagesPerSecond: 1234, etaSeconds: 60 };
    const rank0 = createServer((req, res) => {
      res.writeHead(req.url === '/progress' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((r) => rank0.listen(0, '127.0.0.1', r));
    const port = (rank0.address() as AddressInfo).port;
    try {
      await k.createJob(ns, 'prog', { image: IMAGE, replicas: 1, training: { batchSize: 64 }, progressPort: port });
      await eventually('pod', async () => ((await k.pods(ns, 'prog')).length === 1 ? true : undefined));
      await k.setPodPhase(ns, 'prog-0', 'Running'); // podIP 127.0.0.1: our fake rank 0
      const s = await eventually('progress in status', async () => (await k.jobStatus(ns, 'prog'))?.progress?.loss);
      assert.equal(s, 2.5);
      const st = await k.jobStatus(ns, 'prog');
      assert.deepEqual({ ...st?.progress, updateTime: undefined },
        { epoch: 5, step: 40, totalSteps: 100, loss: 2.5, imagesPerSecond: 1234, etaSeconds: 60, updateTime: undefined });
      const table = await cp.kubectl(['get', 'scj', '-n', ns, 'prog', '--no-headers']);
      assert.match(table.stdout, /^prog\s+Running\s+1\s+5\s+2\.5\s+/); // the document's epoch 4 is the fifth
    } finally {
      rank0.close();
    }
  });

  /** A fake rank 0 on 127.0.0.1 (the podIP setPodPhase reports) serving `doc` at /progress. */
  const fakeRank0 = async (doc: object): Promise<{ port: number; close(): void }> => {
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/progress' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, close: () => server.close() };
  };

  test('rank 0 reports only corrupt checkpoints: condition CheckpointsCorrupt and one Warning event', async () => {
    const corruptCheckpoints = { resumedFromStep: 0, count: 1, movedTo: '/checkpoints/bad/corrupt/2026-12-08T01-00-00-000Z',
      checkpoints: [{ step: 30, reason: '/checkpoints/bad/step-0000000030.safetensors: sha256 00 does not match (corrupt)' }] };
    const rank0 = await fakeRank0({ ...initialProgress({ uid: 'bad', worldSize: 1, epochs: 2, totalSteps: 20 }),
      phase: 'training', corruptCheckpoints });
    try {
      await k.createJob(ns, 'bad', { image: IMAGE, replicas: 1, training: { batchSize: 64 }, progressPort: rank0.port });
      await eventually('pod', async () => ((await k.pods(ns, 'bad')).length === 1 ? true : undefined));
      await k.setPodPhase(ns, 'bad-0', 'Running');
      const c = await eventually('condition', async () =>
        (await k.jobStatus(ns, 'bad'))?.conditions?.find((x) => x.type === 'CheckpointsCorrupt'));
      assert.equal(c.status, 'True');
      assert.equal(c.reason, 'NoValidCheckpoint');
      assert.match(c.message, /no checkpoint verified: 1 corrupt \(newest: step 30: .*\); the run started again from step 0; their files were moved to \/checkpoints\/bad\/corrupt\//);
      const warnings = async (): Promise<CoreV1Event[]> => (await k.core.listNamespacedEvent({ namespace: ns })).items
        .filter((x) => x.involvedObject.name === 'bad' && x.reason === 'NoValidCheckpoint');
      await eventually('a Warning event', async () => ((await warnings()).length > 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 2000)); // later polls of the same document must not repeat it
      assert.deepEqual((await warnings()).map((e) => [e.type, e.count ?? 1]), [['Warning', 1]]);
    } finally {
      rank0.close();
    }
  });

  test('Succeeded records rank 0\'s final progress from its termination message, not the last poll', async () => {
    const base = initialProgress({ uid: 'fin', worldSize: 1, epochs: 2, totalSteps: 20 });
    const rank0 = await fakeRank0({ ...base, phase: 'training', epoch: 1, step: 15, loss: 4.5 });
    try {
      await k.createJob(ns, 'fin', { image: IMAGE, replicas: 1, training: { batchSize: 64 }, progressPort: rank0.port });
      await eventually('pod', async () => ((await k.pods(ns, 'fin')).length === 1 ? true : undefined));
      await k.setPodPhase(ns, 'fin-0', 'Running');
      await eventually('polled', async () => ((await k.jobStatus(ns, 'fin'))?.progress?.step === 15 ? true : undefined));
      const final = { ...base, phase: 'finished' as const, epoch: 2, step: 20, loss: 4.1, knnTop1: 0.7, top1: 0.72,
        top5: 0.97, evalSplit: 'test' as const };
      const terminated = { exitCode: 0, reason: 'Completed', message: finalProgressMessage(final) };
      const r = await cp.request('PATCH', `/api/v1/namespaces/${ns}/pods/fin-0/status`, { status: { phase: 'Succeeded',
        containerStatuses: [{ name: 'trainer', image: 'trainer:1', imageID: '', ready: false, restartCount: 0,
          state: { terminated } }] } }, 'application/merge-patch+json');
      assert.equal(r.status, 200);
      const s = await eventually('Succeeded', async () => {
        const st = await k.jobStatus(ns, 'fin');
        return st?.phase === 'Succeeded' ? st : undefined;
      });
      assert.deepEqual({ ...s.progress, updateTime: undefined, history: undefined }, { epoch: 2, step: 20, totalSteps: 20,
        loss: 4.1, knnTop1: 0.7, top1: 0.72, top5: 0.97, evalSplit: 'test', updateTime: undefined, history: undefined });
    } finally {
      rank0.close();
    }
  });

  test('a pod deleted without a grace period restarts the whole gang, uncounted: never that rank alone', async () => {
    await k.createJob(ns, 'gone', { image: IMAGE, replicas: 2, training: { batchSize: 64 },
      runPolicy: { backoffLimit: 0, backoffSeconds: 0 } });
    await eventually('2 pods', async () => ((await k.pods(ns, 'gone')).length === 2 ? true : undefined));
    await k.setGangPhase(ns, 'gone', 'Running');
    await eventually('Running, both counted', async () =>
      ((await k.jobStatus(ns, 'gone'))?.replicas?.running === 2 ? true : undefined));
    const r = await cp.request('DELETE', `/api/v1/namespaces/${ns}/pods/gone-1`, { gracePeriodSeconds: 0 });
    assert.equal(r.status, 200);
    const pods = await eventually('a new gang of generation 1', async () => {
      const p = await k.pods(ns, 'gone');
      return p.length === 2 && p.every((x) => x.metadata?.labels?.['simclr.dev/restart-generation'] === '1') ? p : undefined;
    });
    assert.deepEqual(pods.map((p) => p.metadata?.name), ['gone-0', 'gone-1']);
    const s = await k.jobStatus(ns, 'gone');
    assert.equal(s?.phase, 'Restarting', 'backoffLimit 0, yet not Failed: a deletion is not a failure');
    assert.deepEqual([s?.restartCount, s?.failureRestarts], [1, 0]);
    const c = s?.conditions?.find((x) => x.type === 'Restarting');
    assert.equal(c?.reason, 'PodDeleted');
    assert.match(c?.message ?? '', /gone-1 (vanished|was deleted)/);
  });

  test('a failed rank restarts the whole gang; Failed at backoffLimit; cleanPodPolicy Running', async () => {
    await k.createJob(ns, 'flaky', { image: IMAGE, replicas: 2, training: { batchSize: 64 },
      runPolicy: { backoffLimit: 1, backoffSeconds: 0 } });
    await eventually('2 pods', async () => ((await k.pods(ns, 'flaky')).length === 2 ? true : undefined));
    await k.setGangPhase(ns, 'flaky', 'Running');
    await k.setPodPhase(ns, 'flaky-1', 'Failed', 3);
    const gen1 = await eventually('new gang of generation 1', async () => {
      const p = await k.pods(ns, 'flaky');
      return p.length === 2 && p.every((x) => x.metadata?.labels?.['simclr.dev/restart-generation'] === '1')
        ? p : undefined;
    });
    const s1 = await k.jobStatus(ns, 'flaky');
    assert.equal(s1?.restartCount, 1);
    assert.match(s1?.conditions?.find((c) => c.type === 'Restarting')?.message ?? '', /flaky-1 failed.*exit code 3/);
    assert.equal(gen1.length, 2);
    await k.setPodPhase(ns, 'flaky-1', 'Running');
    await k.setPodPhase(ns, 'flaky-0', 'Failed');
    const s2 = await eventually('Failed', async () => {
      const s = await k.jobStatus(ns, 'flaky');
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.equal(s2?.conditions?.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
    // cleanPodPolicy Running (the default): the still-running rank is deleted, the failed one kept for its logs.
    await eventually('running rank cleaned', async () => {
      const names = (await k.pods(ns, 'flaky')).map((p) => p.metadata?.name);
      return names.length === 1 && names[0] === 'flaky-0' ? true : undefined;
    });
  });

  test('rank 0 succeeding -> Succeeded; cleanPodPolicy All removes pods and Service', async () => {
    await k.createJob(ns, 'done', { image: IMAGE, replicas: 2, training: { batchSize: 64 },
      runPolicy: { cleanPodPolicy: 'All' } });
    await eventually('2 pods', async () => ((await k.pods(ns, 'done')).length === 2 ? true : undefined));
    await k.setGangPhase(ns, 'done', 'Running');
    await k.setPodPhase(ns, 'done-0', 'Succeeded');
    await eventually('Succeeded', async () => ((await k.jobStatus(ns, 'done'))?.phase === 'Succeeded' ? true : undefined));
    await eventually('pods and service gone', async () => {
      const pods = await k.pods(ns, 'done');
      const svc = await cp.request('GET', `/api/v1/namespaces/${ns}/services/done`);
      return pods.length === 0 && svc.status === 404 ? true : undefined;
    });
    const s = await k.jobStatus(ns, 'done');
    assert.ok(s?.completionTime);
  });

  test('suspend deletes the pods and keeps the job; resume recreates them', async () => {
    await k.createJob(ns, 'pause', { image: IMAGE, replicas: 2, training: { batchSize: 64 } });
    await eventually('2 pods', async () => ((await k.pods(ns, 'pause')).length === 2 ? true : undefined));
    await k.patchSpec(ns, 'pause', { runPolicy: { suspend: true } });
    await eventually('suspended, no pods', async () => {
      const s = await k.jobStatus(ns, 'pause');
      return s?.phase === 'Suspended' && (await k.pods(ns, 'pause')).length === 0 ? true : undefined;
    });
    await k.patchSpec(ns, 'pause', { runPolicy: { suspend: false } });
    await eventually('pods back and Suspended=False', async () => {
      const s = await k.jobStatus(ns, 'pause');
      const resumed = s?.conditions?.find((c) => c.type === 'Suspended')?.status === 'False';
      return resumed && (await k.pods(ns, 'pause')).length === 2 ? true : undefined;
    });
  });

  test('a pod the namespace\'s Pod Security level refuses (an nfs volume) fails the job: InvalidSpec, once', async () => {
    await k.createJob(ns, 'nfs', { image: IMAGE, replicas: 1, training: { batchSize: 64 },
      data: { volume: { nfs: { server: 'files', path: '/imagenet' } } } });
    const s = await eventually('Failed', async () => {
      const st = await k.jobStatus(ns, 'nfs');
      return st?.phase === 'Failed' ? st : undefined;
    });
    const failed = s?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'InvalidSpec');
    assert.match(failed?.message ?? '', /the apiserver refuses pod nfs-0: .*violates PodSecurity "restricted:latest": .*nfs/);
    assert.equal((await k.pods(ns, 'nfs')).length, 0);
    const invalidEvents = async (): Promise<CoreV1Event[]> => (await k.core.listNamespacedEvent({ namespace: ns })).items
      .filter((x) => x.involvedObject.name === 'nfs' && x.reason === 'InvalidSpec');
    await eventually('a Warning event', async () => ((await invalidEvents()).length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000)); // later passes must not repeat it
    const events = await invalidEvents();
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'Warning');
  });

  test('activeDeadlineSeconds fails the job with DeadlineExceeded', async () => {
    await k.createJob(ns, 'slow', { image: IMAGE, replicas: 1, training: { batchSize: 64 },
      runPolicy: { activeDeadlineSeconds: 2 } });
    const s = await eventually('DeadlineExceeded', async () => {
      const st = await k.jobStatus(ns, 'slow');
      return st?.phase === 'Failed' ? st : undefined;
    }, 20_000);
    assert.equal(s?.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
  });

  test('ttlSecondsAfterFinished deletes the job, and garbage collection its pods', async () => {
    await k.createJob(ns, 'ttl', { image: IMAGE, replicas: 1, training: { batchSize: 64 },
      runPolicy: { ttlSecondsAfterFinished: 1, cleanPodPolicy: 'None' } });
    await eventually('1 pod', async () => ((await k.pods(ns, 'ttl')).length === 1 ? true : undefined));
    await k.setPodPhase(ns, 'ttl-0', 'Succeeded');
    await eventually('job deleted', async () => ((await k.getJob(ns, 'ttl')) === undefined ? true : undefined), 20_000);
    // The garbage collector learns about a new CRD at its next discovery resync (30 s): allow for it.
    await eventually('pods collected', async () => ((await k.pods(ns, 'ttl')).length === 0 ? true : undefined), 90_000);
  });
});

describe('restarts and leader election', () => {
  test('operator killed (SIGKILL) mid-creation and restarted: no duplicate or orphan pods', async () => {
    const ns = 'crash';
    const replicas = 64;
    await createNamespace(cp, ns);
    const child = spawn(process.execPath, ['--import', 'tsx', 'operator/main.ts', `--kubeconfig=${cp.kubeconfigPath}`,
      `--namespace=${ns}`, '--leader-elect=false', '--listen=127.0.0.1:0', '--auth=none', '--log-level=warn'],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    await k.createJob(ns, 'big', { image: IMAGE, replicas, training: { batchSize: 64 } });
    await eventually('first pod', async () => ((await k.pods(ns, 'big')).length > 0 ? true : undefined), 60_000);
    child.kill('SIGKILL');
    await exited;
    const partial = (await k.pods(ns, 'big')).length;
    // And a leftover of an older generation, as if a restart decision had been persisted before a crash.
    const job = parseSimCLRJob(await k.getJob(ns, 'big'));
    if (partial < replicas) {
      await k.core.createNamespacedPod({ namespace: ns, body: desiredPod(job, replicas - 1, 7) }).catch(() => undefined);
    }
    const second = await runOperator(cp, { namespace: ns, leaseName: 'crash' });
    try {
      const pods = await eventually(`exactly ${replicas} pods of generation 0`, async () => {
        const p = await k.pods(ns, 'big');
        const ok = p.length === replicas &&
          p.every((x) => x.metadata?.labels?.['simclr.dev/restart-generation'] === '0');
        return ok ? p : undefined;
      });
      const ranks = pods.map((p) => Number(p.metadata?.labels?.['simclr.dev/rank'])).sort((a, b) => a - b);
      assert.deepEqual(ranks, Array.from({ length: replicas }, (_, i) => i));
      process.stderr.write(`pods when the first operator was killed: ${partial} of ${replicas}\n`);
    } finally {
      await second.stop();
    }
  });

  test('two operators: exactly one leads; the other takes over within the lease duration', async () => {
    const ns = 'leader';
    await createNamespace(cp, ns);
    const a = await runOperator(cp, { namespace: ns, leaseName: 'two', identity: 'op-a' });
    const b = await runOperator(cp, { namespace: ns, leaseName: 'two', identity: 'op-b' });
    try {
      await eventually('a leader', () => (a.isLeader() || b.isLeader() ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(Number(a.isLeader()) + Number(b.isLeader()), 1);
      const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
      await k.createJob(ns, 'once', { image: IMAGE, replicas: 4, training: { batchSize: 64 } });
      await eventually('4 pods', async () => ((await k.pods(ns, 'once')).length === 4 ? true : undefined));
      // The leader stops acting without releasing (as if it hung); the follower must wait for expiry.
      await leader.controller.stop();
      const t0 = Date.now();
      leader.elector!.tryAcquireOrRenew = async () => false;
      await eventually('takeover', () => (follower.isLeader() ? true : undefined), 15_000);
      const took = Date.now() - t0;
      assert.ok(took < 3000 + 2000 + 1000, `takeover took ${took} ms`);
      await k.patchSpec(ns, 'once', { runPolicy: { suspend: true } });
      await eventually('new leader acts', async () => ((await k.pods(ns, 'once')).length === 0 ? true : undefined));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('leader killed', () => {
  test('SIGKILLed leader process: the standby takes over within the lease duration and acts', async () => {
    const ns = 'leader2';
    await createNamespace(cp, ns);
    const child = spawn(process.execPath, ['--import', 'tsx', 'operator/main.ts', `--kubeconfig=${cp.kubeconfigPath}`,
      `--namespace=${ns}`, '--lease-name=killed', '--lease-namespace=default', '--identity=child',
      '--lease-duration-seconds=3', '--renew-deadline-seconds=2', '--retry-period-seconds=0.3',
      '--listen=127.0.0.1:0', '--auth=none', '--log-level=warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    let standby: RunningOperator | undefined;
    try {
      await eventually('child holds the lease', async () => {
        const r = await cp.request('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/killed');
        return r.body?.spec?.holderIdentity === 'child' ? true : undefined;
      }, 60_000);
      standby = await runOperator(cp, { namespace: ns, leaseName: 'killed', identity: 'standby',
        leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.3 });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(standby.isLeader(), false);
      child.kill('SIGKILL');
      await exited;
      const t0 = Date.now();
      await eventually('standby leads', () => (standby!.isLeader() ? true : undefined), 15_000);
      const took = Date.now() - t0;
      assert.ok(took <= 3000 + 1000, `takeover took ${took} ms (lease duration 3 s)`);
      await k.createJob(ns, 'after', { image: IMAGE, replicas: 2, training: { batchSize: 64 } });
      await eventually('new leader creates pods', async () => ((await k.pods(ns, 'after')).length === 2 ? true : undefined));
    } finally {
      child.kill('SIGKILL');
      await standby?.stop();
    }
  });
});

describe('REST API with TokenReview + SubjectAccessReview', () => {
  test('a service account token: 403 without RBAC, 200 once bound to a Role', async () => {
    const ns = 'rbac';
    await createNamespace(cp, ns);
    const op = await runOperator(cp, { namespace: ns, leaseName: 'rbac', auth: 'kubernetes' });
    try {
      await cp.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'viewer' } });
      const tr = await cp.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/viewer/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } });
      assert.equal(tr.status, 201, JSON.stringify(tr.body));
      const addr = op.server.server.address() as AddressInfo;
      const url = `http://127.0.0.1:${addr.port}/api/v1/namespaces/${ns}/jobs`;
      const headers = { authorization: `Bearer ${tr.body.status.token as string}` };
      const denied = await fetch(url, { headers });
      assert.equal(denied.status, 403);
      const body = (await denied.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'FORBIDDEN');
      assert.match(body.error.message, /system:serviceaccount:rbac:viewer may not list simclrjobs in namespace rbac/);
      await bindRole(cp, ns, 'scj-viewer',
        [{ apiGroups: ['simclr.dev'], resources: ['simclrjobs'], verbs: ['get', 'list', 'watch'] }], 'viewer');
      // Decisions are cached for 10 s.
      await eventually('allowed after binding', async () => ((await fetch(url, { headers })).status === 200 ? true : undefined),
        30_000);
      // The job detail's pods (IPs, nodes) and events need `list pods` there too, as kubectl would.
      await k.createJob(ns, 'seen', { image: IMAGE, training: { batchSize: 64 } });
      const detail = async (): Promise<{ podsVisible: boolean; pods: unknown[] }> =>
        (await (await fetch(`${url}/seen`, { headers })).json()) as { podsVisible: boolean; pods: unknown[] };
      const hidden = await eventually('the job seen, its pods hidden', async () => {
        const d = await detail();
        return d.podsVisible === false ? d : undefined;
      });
      assert.deepEqual(hidden.pods, []);
      await bindRole(cp, ns, 'pod-viewer', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }], 'viewer');
      await eventually('pods shown once the caller may list them', async () => {
        const d = await detail();
        return d.podsVisible && d.pods.length === 1 ? true : undefined;
      }, 30_000);
    } finally {
      await op.stop();
    }
  });

  test('with --token-audience only tokens minted for the operator get in: an apiserver token is refused', async () => {
    const ns = 'audience';
    await createNamespace(cp, ns);
    const op = await runOperator(cp, { namespace: ns, leaseName: 'audience', auth: 'kubernetes',
      tokenAudience: 'simclr-operator' });
    try {
      await cp.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'viewer' } });
      await bindRole(cp, ns, 'scj-viewer',
        [{ apiGroups: ['simclr.dev'], resources: ['simclrjobs'], verbs: ['get', 'list', 'watch'] }], 'viewer');
      const token = async (audiences?: string[]): Promise<string> => {
        const tr = await cp.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/viewer/token`,
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
            spec: { expirationSeconds: 600, ...(audiences !== undefined && { audiences }) } });
        assert.equal(tr.status, 201, JSON.stringify(tr.body));
        return tr.body.status.token as string;
      };
      const url = `http://127.0.0.1:${(op.server.server.address() as AddressInfo).port}/api/v1/namespaces/${ns}/jobs`;
      const status = async (t: string): Promise<number> => (await fetch(url, { headers: { authorization: `Bearer ${t}` } })).status;
      assert.equal(await status(await token()), 401, 'a token for the apiserver is not one for the operator');
      assert.equal(await status(await token(['simclr-operator'])), 200);
    } finally {
      await op.stop();
    }
  });

  test('no token 401, bad token 401, admin token 200; unknown job 404', async () => {
    const ns = 'rest';
    await createNamespace(cp, ns);
    const op = await runOperator(cp, { namespace: ns, leaseName: 'rest', auth: 'kubernetes' });
    try {
      await k.createJob(ns, 'seen', { image: IMAGE, training: { batchSize: 64 } });
      const addr = op.server.server.address();
      const base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
      assert.equal((await fetch(`${base}/api/v1/jobs`)).status, 401);
      assert.equal((await fetch(`${base}/api/v1/jobs`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const auth = { headers: { authorization: `Bearer ${cp.token}` } };
      const list = await eventually('job listed', async () => {
        const r = await fetch(`${base}/api/v1/namespaces/${ns}/jobs`, auth);
        const body = (await r.json()) as { items: Array<{ name: string }> };
        return r.status === 200 && body.items.length === 1 ? body : undefined;
      });
      assert.equal(list.items[0]?.name, 'seen');
      const detail = await eventually('detail with pods and events', async () => {
        const r = await fetch(`${base}/api/v1/namespaces/${ns}/jobs/seen`, auth);
        const d = (await r.json()) as { pods: Array<{ name: string; rank: number }>; events: Array<{ reason: string }> };
        return r.status === 200 && d.pods.length === 1 && d.events.some((e) => e.reason === 'PodsCreated') ? d : undefined;
      });
      assert.deepEqual(detail.pods.map((p) => [p.name, p.rank]), [['seen-0', 0]]);
      const missing = await fetch(`${base}/api/v1/namespaces/${ns}/jobs/nope`, auth);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'JOB_NOT_FOUND');
      assert.equal((await fetch(`${base}/metrics`, auth)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    } finally {
      await op.stop();
    }
  });
});

describe('REST API and metrics over TLS', () => {
  /** A self-signed certificate for 127.0.0.1 (openssl, as an admin would make one without cert-manager). */
  function selfSigned(dir: string, name: string): { cert: string; key: string } {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' });
    return { cert, key };
  }

  /** GET over HTTPS trusting only `ca`; the status and the certificate the server presented. */
  const get = (port: number, path: string, ca: string, token: string): Promise<{ status: number; subject: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, ca: readFileSync(ca), agent: false,
        headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, subject: (res.socket as TLSSocket).getPeerCertificate().subject.CN as string });
      });
      req.on('error', reject);
      req.end();
    });

  test('HTTPS with the configured certificate, no plain HTTP, and a renewed certificate served without a restart',
    async () => {
      const ns = 'tls';
      await createNamespace(cp, ns);
      const dir = mkdtempSync(join(tmpdir(), 'simclr-tls-'));
      const first = selfSigned(dir, 'first');
      const served = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
      copyFileSync(first.cert, served.cert);
      copyFileSync(first.key, served.key);
      const op = await runOperator(cp, { namespace: ns, leaseName: 'tls', auth: 'kubernetes',
        tlsCertFile: served.cert, tlsKeyFile: served.key });
      try {
        const port = (op.server.server.address() as AddressInfo).port;
        const ok = await get(port, `/api/v1/namespaces/${ns}/jobs`, first.cert, cp.token);
        assert.deepEqual(ok, { status: 200, subject: 'first' });
        assert.equal((await get(port, '/metrics', first.cert, cp.token)).status, 200);
        // A token never goes over plain HTTP: the port speaks TLS only.
        await assert.rejects(fetch(`http://127.0.0.1:${port}/readyz`, { headers: { authorization: `Bearer ${cp.token}` } }));
        // cert-manager renews the Secret, the kubelet updates the mounted files: new connections get the new one.
        const second = selfSigned(dir, 'second');
        copyFileSync(second.key, served.key);
        copyFileSync(second.cert, served.cert);
        await eventually('the renewed certificate served', async () =>
          (await get(port, '/healthz', second.cert, cp.token).catch(() => undefined))?.subject === 'second' ? true : undefined,
        30_000, 500);
      } finally {
        await op.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
});
