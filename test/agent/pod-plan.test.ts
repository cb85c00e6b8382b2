// How the test node agent maps a pod to local processes: the operator's real pod for a rank (desiredPod) in, a
// process plan out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultBinDir, requireBinaries } from '../controlplane/harness.js';
import { parseSimCLRJob } from '../../operator/api/schema.js';
import { desiredPod } from '../../operator/reconcile/desired.js';
import { imageName, planPod, rewriteValue, SERVICE_ACCOUNT_PATH, UnsupportedPod } from './pod-plan.js';

const ROOT = '/var/agent';
const TRAINER = { name: 'simclr-trainer', entrypoint: ['/usr/bin/node', '/repo/dist/trainer/cli/main.js', 'train'],
  env: { NODE_ENV: 'production' } };
const opts = { root: ROOT, images: [TRAINER], path: '/usr/bin:/bin' };

function rankPod(rank: number, spec: Record<string, unknown> = {}): V1Pod {
  const job = parseSimCLRJob({ apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob',
    metadata: { name: 'gang', namespace: 'ml', uid: 'job-uid' },
    spec: { image: 'ghcr.io/acme/simclr-trainer:0.1.0', replicas: 2, training: { batchSize: 64 },
      checkpoint: { claimName: 'ckpt' }, data: { claimName: 'images', path: 'fmnist' }, ...spec } });
  const pod = desiredPod(job, rank, 0);
  pod.metadata!.uid = `pod-uid-${rank}-0000`;
  return pod;
}

test('image names match without registry, tag or digest', () => {
  assert.equal(imageName('ghcr.io/acme/simclr-trainer:0.1.0'), 'simclr-trainer');
  assert.equal(imageName('localhost:5000/simclr-trainer@sha256:abc'), 'simclr-trainer');
  assert.equal(imageName('simclr-trainer'), 'simclr-trainer');
});

test("a rank's pod becomes the trainer entrypoint with the pod's args, rewritten to this machine", () => {
  const plan = planPod(rankPod(1), opts);
  const [p] = plan.processes;
  assert.equal(plan.processes.length, 1);
  assert.equal(p!.command, '/usr/bin/node');
  assert.deepEqual(p!.args.slice(0, 2), ['/repo/dist/trainer/cli/main.js', 'train']);
  const ckpt = join(ROOT, 'volumes/pvc/ml/ckpt');
  assert.ok(p!.args.includes(`--model-dir=${ckpt}`), p!.args.join(' '));
  assert.ok(p!.args.includes(`--data-dir=${join(ROOT, 'volumes/pvc/ml/images')}/fmnist`));
  // Rank and rendezvous come as env (once): the cluster name of rank 0 resolves to this machine.
  assert.equal(p!.env.MASTER_ADDR, '127.0.0.1');
  assert.equal(p!.env.RANK, '1');
  assert.equal(p!.env.MASTER_ADDR, '127.0.0.1');
  assert.equal(p!.env.RANK, '1');
  assert.equal(p!.env.NODE_ENV, 'production');
  assert.equal(p!.env.PATH, '/usr/bin:/bin');
  assert.equal(plan.volumeDirs.checkpoints, ckpt);
  // emptyDir (the /dev/shm volume) and the working directory belong to this pod only.
  assert.ok(plan.volumeDirs.dshm!.startsWith(plan.podDir));
  assert.ok(p!.cwd.startsWith(plan.podDir));
});

test('claims map to the same folder for every pod and restart, so a new gang finds the checkpoints', () => {
  const a = planPod(rankPod(0), opts);
  const b = planPod({ ...rankPod(0), metadata: { ...rankPod(0).metadata, uid: 'another-generation' } }, opts);
  assert.equal(a.volumeDirs.checkpoints, b.volumeDirs.checkpoints);
  assert.notEqual(a.podDir, b.podDir);
});

test('values are rewritten only where they are cluster names or under a mount', () => {
  const mounts = [{ mountPath: '/data', hostDir: '/h/d' }, { mountPath: '/data/sub', hostDir: '/h/s' }];
  assert.equal(rewriteValue('gang-0.gang.ml.svc', mounts), '127.0.0.1');
  assert.equal(rewriteValue('gang-0.gang.ml.svc.cluster.local:29500', mounts), '127.0.0.1:29500');
  assert.equal(rewriteValue('--master=gang-0.gang.ml.svc', mounts), '--master=127.0.0.1');
  assert.equal(rewriteValue('/data/x', mounts), '/h/d/x');
  assert.equal(rewriteValue('/data/sub/y', mounts), '/h/s/y');
  assert.equal(rewriteValue('/database', mounts), '/database');
  assert.equal(rewriteValue('example.com', mounts), 'example.com');
  assert.equal(rewriteValue('--lr=0.3', mounts), '--lr=0.3');
});

test('what the agent cannot run is refused with a message naming the field', () => {
  const unknownImage = rankPod(0, { image: 'busybox:1.36' });
  assert.throws(() => planPod(unknownImage, opts), (e: Error) =>
    e instanceof UnsupportedPod && /image busybox:1.36 is not known.*known: simclr-trainer/.test(e.message));
  const withCommand = rankPod(0, { image: 'busybox:1.36' });
  withCommand.spec!.containers[0]!.command = ['sh', '-c'];
  assert.equal(planPod(withCommand, opts).processes[0]!.command, 'sh');
  const nfs = rankPod(0, { checkpoint: { volume: { nfs: { server: 'n', path: '/x' } } } });
  assert.throws(() => planPod(nfs, opts), /volume checkpoints: source nfs is not supported.*persistentVolumeClaim/);
});

test('the image\'s entrypoint is this machine\'s program: a /tmp emptyDir of the pod does not move it', () => {
  // A checkout under /tmp (a fresh CI clone): the trainer pods mount an emptyDir at /tmp.
  const trainer = { ...TRAINER, entrypoint: ['/usr/bin/node', '/tmp/clone/dist/trainer/cli/main.js', 'train'] };
  const pod = rankPod(0);
  const p = planPod(pod, { ...opts, images: [trainer] }).processes[0]!;
  assert.deepEqual([p.command, ...p.args.slice(0, 2)], ['/usr/bin/node', '/tmp/clone/dist/trainer/cli/main.js', 'train']);
  assert.ok(pod.spec!.volumes!.some((v) => v.name === 'tmp'), 'the pod does mount /tmp');
  // The pod's own paths under /tmp are the container's, and are rewritten.
  pod.spec!.containers[0]!.args = ['--log-dir=/tmp/runs'];
  const q = planPod(pod, { ...opts, images: [trainer] }).processes[0]!;
  assert.ok(q.args.at(-1)!.startsWith('--log-dir=/var/agent/pods/'), q.args.at(-1));
});

test('with volumesRoot, claims live there, outside the agent\'s root (make cluster keeps them past the cluster)', () => {
  const plan = planPod(rankPod(0), { ...opts, volumesRoot: '/home/me/.local/share/simclr-k8s/cluster-volumes' });
  assert.equal(plan.volumeDirs.checkpoints, '/home/me/.local/share/simclr-k8s/cluster-volumes/pvc/ml/ckpt');
  assert.ok(plan.podDir.startsWith(ROOT));
});

test("the chart's operator pod: the operator image, 0.0.0.0 as the pod's IP, fieldRefs, its Secret, probes, token", () => {
  requireBinaries(defaultBinDir(), ['helm']);
  const rendered = execFileSync(join(defaultBinDir(), 'helm'), ['template', 'simclr', 'charts/simclr-operator'],
    { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: '/tmp', HELM_CONFIG_HOME: '/tmp' } });
  const dep = (loadAll(rendered) as any[]).find((d) => d?.kind === 'Deployment');
  const pod: V1Pod = { metadata: { name: 'simclr-op-abc', namespace: 'ops', uid: 'u-1', labels: {} },
    spec: { ...dep.spec.template.spec, nodeName: 'n' } };
  const OPERATOR = { name: 'simclr-operator', entrypoint: ['/usr/bin/node', '/repo/dist/operator/main.js'] };
  const plan = planPod(pod, { ...opts, images: [TRAINER, OPERATOR], podIP: '127.1.0.7',
    apiserver: { host: '127.0.0.1', port: '6443' } });
  const [p] = plan.processes;
  assert.equal(plan.restartPolicy, 'Always');
  assert.deepEqual([p!.command, p!.args[0]], ['/usr/bin/node', '/repo/dist/operator/main.js']);
  assert.ok(p!.args.includes('--listen=127.1.0.7:8080'), p!.args.join(' '));
  assert.deepEqual([p!.env.POD_NAME, p!.env.POD_NAMESPACE], ['simclr-op-abc', 'ops']);
  assert.deepEqual([p!.env.KUBERNETES_SERVICE_HOST, p!.env.KUBERNETES_SERVICE_PORT], ['127.0.0.1', '6443']);
  const tls = plan.volumeDirs.tls!;
  assert.ok(p!.args.includes(`--tls-cert-file=${tls}/tls.crt`), p!.args.join(' '));
  assert.equal(p!.readiness?.url, 'https://127.1.0.7:8080/readyz');
  assert.equal(p!.liveness?.url, 'https://127.1.0.7:8080/healthz');
  assert.equal(p!.liveness?.failureThreshold, 3);
  assert.equal(plan.serviceAccount?.name, 'simclr-simclr-operator');
  assert.deepEqual(p!.bindMounts, [{ hostDir: plan.serviceAccount!.dir, mountPath: SERVICE_ACCOUNT_PATH }]);
  // Opting out of the token means no mount at all.
  const noToken = planPod({ ...pod, spec: { ...pod.spec!, automountServiceAccountToken: false } },
    { ...opts, images: [OPERATOR] });
  assert.deepEqual([noToken.serviceAccount, noToken.processes[0]!.bindMounts], [undefined, []]);
});
