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
    /ns\/j.*spec.training.batchSize=256 is not divisible by spec.replicas=3/s,
  );
});

test('single-field rules: replicas < 1, unknown arch, bad cleanPodPolicy, missing image', () => {
  assert.throws(() => parseSimCLRJob(job({ replicas: 0 })), /replicas/);
  assert.throws(() => parseSimCLRJob(job({ training: { arch: 'vgg16' } })), /arch/);
  assert.throws(() => parseSimCLRJob(job({ runPolicy: { cleanPodPolicy: 'Some' } })), /cleanPodPolicy/);
  assert.throws(() => parseSimCLRJob({ ...(job({}) as object), spec: {} }), /image/);
});

test('data source needs exactly one of claimName or volume, and imagefolder needs a data source', () => {
  assert.throws(() => parseSimCLRJob(job({ training: { dataset: 'imagefolder' } })), /spec.data is required for spec.training.dataset=imagefolder/);
  const ok = parseSimCLRJob(job({ training: { dataset: 'imagefolder' }, data: { claimName: 'imagenet' } }));
  assert.equal(ok.spec.data?.claimName, 'imagenet');
});

test('every cross-field rule has a message and its TypeScript check accepts the defaults', () => {
  const defaults = SimCLRJobSpec.parse({ image: 'x' });
  for (const r of CROSS_FIELD_RULES) {
    assert.ok(r.message(defaults).length > 10, r.rule);
    assert.equal(r.holds(defaults), true, r.rule);
  }
});

test('data and checkpoint: exactly one of claimName or volume', () => {
  assert.throws(() => parseSimCLRJob(job({ data: { claimName: 'a', volume: { emptyDir: {} } } })), /exactly one/);
  assert.throws(() => parseSimCLRJob(job({ checkpoint: {} })), /exactly one/);
});
