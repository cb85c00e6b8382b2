import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CROSS_FIELD_RULES, parseSimCLRJob, SimCLRJobSpec } from './schema.js';

const job = (spec: Record<string, unknown>): unknown => ({
  apiVersion: 'simclr.dev/v1alpha1',
  kind: 'SimCLRJob',
  metadata: { name: 'j', namespace: 'ns' },
  spec: { image: 'trainer:1', ...spec },
});

test('defaults fill every nested policy from an image-only spec', () => {
  const s = SimCLRJobSpec.parse({ image: 'trainer:1' });
  assert.equal(s.replicas, 1);
  assert.equal(s.runPolicy.backoffLimit, 3);
  assert.equal(s.runPolicy.cleanPodPolicy, 'Running');
  assert.equal(s.runPolicy.suspend, false);
  assert.equal(s.resources.shmSize, '1Gi');
  assert.equal(s.training.batchSize, 256);
  assert.equal(s.training.arch, 'resnet18');
});

test('batch size not divisible by replicas is rejected with the CEL message', () => {
  assert.throws(
    () => parseSimCLRJob(job({ replicas: 3, training: { batchSize: 256 } })),
    /ns\/j.*spec.training.batchSize is not divisible by spec.replicas/s,
  );
});

test('single-field rules: replicas < 1, unknown arch, bad cleanPodPolicy, missing image', () => {
  assert.throws(() => parseSimCLRJob(job({ replicas: 0 })), /replicas/);
  assert.throws(() => parseSimCLRJob(job({ training: { arch: 'vgg16' } })), /arch/);
  assert.throws(() => parseSimCLRJob(job({ runPolicy: { cleanPodPolicy: 'Some' } })), /cleanPodPolicy/);
  assert.throws(() => parseSimCLRJob({ ...(job({}) as object), spec: {} }), /image/);
});

test('data source needs exactly one of claimName or volume, and imagefolder needs a data source', () => {
  assert.throws(() => parseSimCLRJob(job({ training: { dataset: 'imagefolder' } })), /spec.data is required for spec.training.dataset/);
  const ok = parseSimCLRJob(job({ training: { dataset: 'imagefolder' }, data: { claimName: 'imagenet' } }));
  assert.equal(ok.spec.data?.claimName, 'imagenet');
});

test('every cross-field rule has a message and its TypeScript check accepts the defaults', () => {
  const defaults = SimCLRJobSpec.parse({ image: 'x' });
  for (const r of CROSS_FIELD_RULES) {
    assert.ok(r.message.length > 10, r.rule);
    assert.equal(r.holds(defaults), true, r.rule);
  }
});

test('data and checkpoint: exactly one of claimName or volume', () => {
  assert.throws(() => parseSimCLRJob(job({ data: { claimName: 'a', volume: { emptyDir: {} } } })), /exactly one/);
  assert.throws(() => parseSimCLRJob(job({ checkpoint: {} })), /exactly one/);
});

test('env: the operator\'s names are refused, values are bounded, valueFrom takes one Secret or ConfigMap key', () => {
  for (const name of ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'SIMCLR_TERMINATION_MESSAGE_PATH']) {
    assert.throws(() => parseSimCLRJob(job({ env: [{ name, value: '1' }] })), /is set by the operator/, name);
  }
  assert.throws(() => parseSimCLRJob(job({ env: [{ name: 'BIG', value: 'x'.repeat(8193) }] })), /env/);
  assert.equal(parseSimCLRJob(job({ env: [{ name: 'OK', value: 'x'.repeat(8192) }] })).spec.env?.[0]?.value?.length, 8192);
  assert.throws(() => parseSimCLRJob(job({ env: Array.from({ length: 65 }, (_, i) => ({ name: `V${i}`, value: '' })) })), /env/);
  assert.throws(() => parseSimCLRJob(job({ env: [{ name: 'K', value: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] })),
    /value or valueFrom, not both/);
  assert.throws(() => parseSimCLRJob(job({ env: [{ name: 'K', valueFrom: {} }] })), /exactly one of secretKeyRef or configMapKeyRef/);
  const ok = parseSimCLRJob(job({ env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] }));
  assert.equal(ok.spec.env?.[0]?.valueFrom?.configMapKeyRef?.key, 'k');
});

test('volume sources: exactly one core/v1 kind (hostPath is one a cluster admin may allow); unknown kinds are no source', () => {
  assert.equal(parseSimCLRJob(job({ data: { volume: { hostPath: { path: '/etc' } } } })).spec.data?.volume?.hostPath?.path, '/etc');
  assert.throws(() => parseSimCLRJob(job({ data: { volume: { hostPathX: { path: '/etc' } } } })), /exactly one volume source/);
  assert.throws(() => parseSimCLRJob(job({ data: { volume: { emptyDir: {}, nfs: { server: 's', path: '/' } } } })),
    /exactly one volume source/);
  assert.equal(parseSimCLRJob(job({ checkpoint: { volume: { csi: { driver: 'd' } } } })).spec.checkpoint?.volume?.csi?.driver, 'd');
});

test('failurePolicy: rules parse with their defaults; a rule without a matcher, a repeated code or 0 is refused', () => {
  const ok = parseSimCLRJob(job({ runPolicy: { failurePolicy: { rules: [
    { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
    { action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [75, 143] } }] } } }));
  assert.equal(ok.spec.runPolicy.failurePolicy?.rules[0]?.onPodConditions?.[0]?.status, 'True');
  assert.deepEqual(parseSimCLRJob(job({ runPolicy: { failurePolicy: {} } })).spec.runPolicy.failurePolicy, { rules: [] });
  assert.equal(parseSimCLRJob(job({})).spec.runPolicy.failurePolicy, undefined);
  const rules = (r: unknown): unknown => job({ runPolicy: { failurePolicy: { rules: [r] } } });
  assert.throws(() => parseSimCLRJob(rules({ action: 'FailJob' })), /needs onExitCodes, onPodConditions or onReasons.*at spec.runPolicy.failurePolicy.rules\[0\]$/s);
  assert.throws(() => parseSimCLRJob(rules({ action: 'FailJob', onExitCodes: { operator: 'In', values: [2, 2] } })),
    /must not repeat a value.*at spec.runPolicy.failurePolicy.rules\[0\].onExitCodes.values/s);
  assert.throws(() => parseSimCLRJob(rules({ action: 'FailJob', onExitCodes: { operator: 'In', values: [0] } })), /values/);
  assert.throws(() => parseSimCLRJob(rules({ action: 'Retry', onReasons: ['OOMKilled'] })), /action/);
});

test('scheduling.podGroup: a kind, and only that scheduler\'s options', () => {
  const pg = (podGroup: unknown): unknown => job({ scheduling: { podGroup } });
  assert.equal(parseSimCLRJob(pg({ kind: 'Volcano', queue: 'q' })).spec.scheduling?.podGroup?.queue, 'q');
  assert.throws(() => parseSimCLRJob(pg({ kind: 'Coscheduling', queue: 'q' })), /queue is Volcano's: remove it or set kind Volcano/);
  assert.throws(() => parseSimCLRJob(pg({ kind: 'Volcano', scheduleTimeoutSeconds: 9 })), /scheduleTimeoutSeconds is the coscheduling plugin's/);
  assert.throws(() => parseSimCLRJob(pg({ kind: 'Kueue' })), /kind/);
});
