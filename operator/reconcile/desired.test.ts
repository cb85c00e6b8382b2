import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../trainer/contract/index.js';
import { desiredNetworkPolicy, desiredPod, desiredPods, desiredService } from './desired.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/agent/node-agent.js';
import { TRAINER_UID } from './names.js';
import { makeJob } from './testing.js';
import { volumeKindProblem } from './volume-kinds.js';
import { SimCLRJob } from '../api/schema.js';

test('headless Service named after the job selects its pods and publishes not-ready addresses', () => {
  const svc = desiredService(makeJob());
  assert.equal(svc.metadata?.name, 'pre');
  assert.equal(svc.spec?.clusterIP, 'None');
  assert.equal(svc.spec?.publishNotReadyAddresses, true);
  assert.deepEqual(svc.spec?.selector, { 'simclr.dev/job-name': 'pre' });
  assert.equal(svc.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
});

test('N pods <job>-<rank> with labels, owner, stable hostname, rendezvous env', () => {
  const job = makeJob({ replicas: 4 });
  const pods = desiredPods(job, 2);
  assert.deepEqual(pods.map((p) => p.metadata?.name), ['pre-0', 'pre-1', 'pre-2', 'pre-3']);
  const p = pods[3]!;
  assert.equal(p.metadata?.labels?.['simclr.dev/job-name'], 'pre');
  assert.equal(p.metadata?.labels?.['simclr.dev/rank'], '3');
  assert.equal(p.metadata?.labels?.['simclr.dev/restart-generation'], '2');
  assert.deepEqual(p.metadata?.ownerReferences, [
    { apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob', name: 'pre', uid: 'uid-1', controller: true,
      blockOwnerDeletion: true },
  ]);
  assert.equal(p.spec?.hostname, 'pre-3');
  assert.equal(p.spec?.subdomain, 'pre');
  assert.equal(p.spec?.restartPolicy, 'Never');
  const env = Object.fromEntries((p.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  assert.deepEqual(env, { RANK: '3', WORLD_SIZE: '4', MASTER_ADDR: 'pre-0.pre.ml.svc', MASTER_PORT: '29500',
    SIMCLR_TERMINATION_MESSAGE_PATH: '/dev/termination-log' });
  // The trainer's reason reaches the pod status: it writes the file the env names, the kubelet reads that path.
  assert.equal(p.spec?.containers[0]?.terminationMessagePath, '/dev/termination-log');
  assert.equal(p.spec?.containers[0]?.terminationMessagePolicy, 'FallbackToLogsOnError');
});

test('a planned stop gets runPolicy.terminationGracePeriodSeconds (default 300 s) to finish its step and checkpoint', () => {
  assert.equal(desiredPod(makeJob(), 0, 0).spec?.terminationGracePeriodSeconds, 300, 'not the 30 s Kubernetes default');
  const job = makeJob({ runPolicy: { terminationGracePeriodSeconds: 900 } });
  assert.equal(desiredPod(job, 1, 0).spec?.terminationGracePeriodSeconds, 900);
});

test('trainer args round-trip through the trainer\'s own parser and agree with the env', () => {
  const job = makeJob({ replicas: 2, training: { batchSize: 128, arch: 'resnet50', epochs: 7, warmup: 1 },
    data: { claimName: 'imgs', path: 'imagenet' }, checkpoint: { claimName: 'ckpt' } });
  const c = desiredPod(job, 1, 0).spec!.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
  const cfg = parseArgs(c.args ?? [], env);
  assert.equal(cfg.batchSize, 128);
  assert.equal(cfg.arch, 'resnet50');
  assert.equal(cfg.epochs, 7);
  assert.equal(cfg.numReplicas, 2);
  assert.equal(cfg.distributedRank, 1);
  assert.equal(cfg.distributedMaster, 'pre-0.pre.ml.svc');
  assert.equal(cfg.dataDir, '/data/imagenet');
  assert.equal(cfg.modelDir, '/checkpoints');
  assert.equal(cfg.uid, 'pre');
  assert.equal(cfg.resume, true);
  // Rank, world size and rendezvous reach the pod once, as env: no flag for the trainer to reconcile with it.
  assert.deepEqual((c.args ?? []).filter((a) => /^--(distributed-|num-replicas)/.test(a)), []);
});

test('the seed\'s optimizer names are accepted in the spec and reach the pod as ours', () => {
  for (const [seed, ours] of [['lars_momentum', 'lars'], ['momentum', 'sgd'], ['adam', 'adam']] as const) {
    const c = desiredPod(makeJob({ training: { optimizer: seed } }), 0, 0).spec!.containers[0]!;
    const cfg = parseArgs(c.args ?? [], Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])));
    assert.equal(cfg.optimizer, ours, seed);
  }
});

test('resources: GPUs as nvidia.com/gpu, request = limit; /dev/shm is a memory emptyDir of shmSize', () => {
  const job = makeJob({ resources: { gpu: 2, cpu: '8', memory: '32Gi', shmSize: '8Gi' } });
  const p = desiredPod(job, 0, 0);
  const c = p.spec!.containers[0]!;
  const want = { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '2' };
  assert.deepEqual(c.resources, { requests: want, limits: want });
  assert.deepEqual(p.spec?.volumes?.[0], { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '8Gi' } });
  assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/dev/shm'));
});

test('data and checkpoint volumes: PVC (data read-only) or any volume source', () => {
  const job = makeJob({ data: { claimName: 'imgs' }, checkpoint: { volume: { nfs: { server: 's', path: '/c' } } } });
  const p = desiredPod(job, 0, 0);
  const byName = (n: string): unknown => p.spec?.volumes?.find((v) => v.name === n);
  assert.deepEqual(byName('data'), { name: 'data', persistentVolumeClaim: { claimName: 'imgs', readOnly: true } });
  assert.deepEqual(byName('checkpoints'), { name: 'checkpoints', nfs: { server: 's', path: '/c' } });
});

test('extra volumes: mounted where the author says, under names the operator\'s volumes never take', () => {
  const job = makeJob({ volumes: [
    { name: 'creds', mountPath: '/var/run/creds', readOnly: true, volume: { secret: { secretName: 's3' } } },
    { name: 'cache', mountPath: '/cache', volume: { emptyDir: {} } },
  ] });
  const p = desiredPod(job, 0, 0);
  assert.deepEqual(p.spec?.volumes?.filter((v) => v.name.startsWith('user-')), [
    { name: 'user-creds', secret: { secretName: 's3' } },
    { name: 'user-cache', emptyDir: {} },
  ]);
  const mounts = p.spec?.containers[0]!.volumeMounts ?? [];
  assert.deepEqual(mounts.filter((m) => m.name.startsWith('user-')), [
    { name: 'user-creds', mountPath: '/var/run/creds', readOnly: true },
    { name: 'user-cache', mountPath: '/cache', readOnly: false },
  ]);
});

test('extra volumes: a path on, in or above the operator\'s mounts, or a repeated name or path, is refused naming it', () => {
  const spec = (volumes: object[]): unknown => ({ apiVersion: 'simclr.dev/v1alpha1', kind: 'SimCLRJob',
    metadata: { name: 'v', namespace: 'ml' }, spec: { image: 'trainer:1', training: { batchSize: 64 }, volumes } });
  const problem = (volumes: object[]): string | undefined => {
    const r = SimCLRJob.safeParse(spec(volumes));
    return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  const at = (mountPath: string): object => ({ name: 'x', mountPath, volume: { emptyDir: {} } });
  for (const path of ['/data', '/checkpoints/extra', '/dev', '/', '/tmp/', '/scratch']) {
    assert.match(problem([at(path)]) ?? '', /mountPath is on, in or above a path the operator mounts/, path);
  }
  for (const path of ['/cache', '/database', '/checkpoints2', '/var/tmp']) assert.equal(problem([at(path)]), undefined, path);
  assert.match(problem([at('/a'), at('/b')]) ?? '', /each extra volume needs its own name and its own mountPath/);
  assert.match(problem([at('/a'), { ...at('/a'), name: 'y' }]) ?? '', /its own mountPath/);
  assert.match(problem([{ ...at('/a'), name: 'Not_A_Label' }]) ?? '', /DNS label/);
});

test('extra volumes of a node kind are refused by the operator unless the admin allows the kind', () => {
  const job = makeJob({ volumes: [
    { name: 'ok', mountPath: '/cache', volume: { emptyDir: {} } },
    { name: 'node', mountPath: '/host', volume: { hostPath: { path: '/var/cache' } } },
  ] });
  assert.match(volumeKindProblem(job, []) ?? '', /^spec\.volumes\[1\]\.volume: hostPath volumes are not allowed in this cluster/);
  assert.equal(volumeKindProblem(job, ['hostPath']), undefined);
});

test('scheduling fields are copied to the pod spec', () => {
  const job = makeJob({ scheduling: { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'g', operator: 'Exists' }],
    priorityClassName: 'high', schedulerName: 'volcano', affinity: { nodeAffinity: {} } } });
  const s = desiredPod(job, 0, 0).spec!;
  assert.deepEqual(s.nodeSelector, { pool: 'gpu' });
  assert.deepEqual(s.tolerations, [{ key: 'g', operator: 'Exists' }]);
  assert.equal(s.priorityClassName, 'high');
  assert.equal(s.schedulerName, 'volcano');
  assert.deepEqual(s.affinity, { nodeAffinity: {} });
});

test('podTemplate adds labels and annotations only; the operator\'s labels win', () => {
  const job = makeJob({ podTemplate: { metadata: { labels: { team: 'a', 'simclr.dev/rank': '9' }, annotations: { x: 'y' } } } });
  const p = desiredPod(job, 1, 0);
  assert.equal(p.metadata?.name, 'pre-1');
  assert.equal(p.metadata?.labels?.team, 'a');
  assert.equal(p.metadata?.labels?.['simclr.dev/rank'], '1');
  assert.deepEqual(p.metadata?.annotations, { x: 'y' });
});

test('what is not on the allow-list never reaches a pod: command, service account, host access, privilege', () => {
  // Read as the operator reads a stored object: unknown fields are dropped (the apiserver prunes them too).
  const job = makeJob({ podTemplate: { metadata: { labels: { a: 'b' } }, spec: { hostNetwork: true,
    serviceAccountName: 'admin', containers: [{ name: 'trainer', command: ['sh'], securityContext: { privileged: true } }] } } });
  const p = desiredPod(job, 0, 0);
  assert.equal(p.spec?.hostNetwork, undefined);
  assert.equal(p.spec?.serviceAccountName, undefined);
  assert.equal(p.spec?.automountServiceAccountToken, false);
  assert.deepEqual(p.spec?.containers.map((c) => [c.name, c.command]), [['trainer', undefined]]);
  assert.equal(p.spec?.containers[0]?.securityContext?.privileged, undefined);
});

test('Pod Security restricted: non-root image user, fsGroup, no escalation, no capabilities, RuntimeDefault seccomp', () => {
  const p = desiredPod(makeJob({ checkpoint: { claimName: 'ckpt' } }), 0, 0);
  assert.deepEqual(p.spec?.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001,
    fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
  const c = p.spec!.containers[0]!;
  assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] }, runAsNonRoot: true });
  // A read-only root: everything the trainer writes is on a mount.
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath).sort();
  assert.deepEqual(mounts, ['/checkpoints', '/dev/shm', '/scratch', '/tmp']);
  const cfg = parseArgs(c.args ?? [], Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])));
  assert.equal(cfg.logDir, '/scratch/runs');
  assert.equal(cfg.modelDir, '/checkpoints');
  const noVolume = parseArgs(desiredPod(makeJob(), 0, 0).spec!.containers[0]!.args ?? [], { RANK: '0', WORLD_SIZE: '2' });
  assert.equal(noVolume.modelDir, '/scratch/models');
});

test('the image user the pods run as is the trainer Dockerfile\'s USER', () => {
  const dockerfile = readFileSync(join(repoRoot(), 'trainer', 'Dockerfile'), 'utf8');
  assert.match(dockerfile, new RegExp(`^USER ${TRAINER_UID}:${TRAINER_UID}$`, 'm'));
});

test('author env: literal values and Secret/ConfigMap keys, before the operator\'s own', () => {
  const job = makeJob({ env: [{ name: 'NCCL_DEBUG', value: 'INFO' },
    { name: 'WANDB_KEY', valueFrom: { secretKeyRef: { name: 'wandb', key: 'key' } } }] });
  const env = desiredPod(job, 1, 0).spec!.containers[0]!.env!;
  assert.deepEqual(env.map((e) => e.name),
    ['NCCL_DEBUG', 'WANDB_KEY', 'RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'SIMCLR_TERMINATION_MESSAGE_PATH']);
  assert.deepEqual(env[1], { name: 'WANDB_KEY', valueFrom: { secretKeyRef: { name: 'wandb', key: 'key' } } });
});

test('NetworkPolicy: the job\'s pods reach each other on any port; the operator reaches only the progress port', () => {
  const job = makeJob({ progressPort: 29401 });
  const operator = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'simclr-system' } },
    podSelector: { matchLabels: { 'app.kubernetes.io/name': 'simclr-operator' } } };
  const np = desiredNetworkPolicy(job, operator);
  assert.equal(np.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  assert.deepEqual(np.spec?.podSelector, { matchLabels: { 'simclr.dev/job-name': 'pre' } });
  assert.deepEqual(np.spec?.policyTypes, ['Ingress']);
  assert.deepEqual(np.spec?.ingress, [
    { _from: [{ podSelector: { matchLabels: { 'simclr.dev/job-name': 'pre' } } }] },
    { _from: [operator], ports: [{ protocol: 'TCP', port: 29401 }] },
  ]);
});

test('the seed\'s --polyak-ema, --early-stop and --weight-initialization reach the trainer from spec.training; bad values are refused', () => {
  const training = { batchSize: 64, polyakEma: 0.999, earlyStop: true, earlyStopPatience: 3, weightInitialization: '/checkpoints/base/encoder.onnx' };
  const c = desiredPod(makeJob({ training }), 0, 0).spec!.containers[0]!;
  const cfg = parseArgs(c.args ?? [], Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])));
  assert.deepEqual([cfg.polyakEma, cfg.earlyStop, cfg.earlyStopPatience, cfg.weightInitialization], [0.999, true, 3, '/checkpoints/base/encoder.onnx']);
  assert.throws(() => makeJob({ training: { batchSize: 64, polyakEma: 1 } }), /polyakEma/);
  assert.throws(() => makeJob({ training: { batchSize: 64, earlyStopPatience: 0 } }), /earlyStopPatience/);
  assert.throws(() => makeJob({ training: { batchSize: 64, weightInitialization: '' } }), /weightInitialization/);
});
