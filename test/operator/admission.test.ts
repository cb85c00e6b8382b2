// Admission parity on a real kube-apiserver: the apiserver admits a SimCLRJob exactly when the trainer would run it.
// Specs are generated at the edges of every training field's range and of every cross-field rule; each is sent as a
// dry-run create (admission and validation, nothing stored), and separately turned into trainer flags the way a user
// would write them and parsed by the trainer's own CLI parser. The two verdicts must agree for every spec, every
// rejection must name its field without CEL runtime noise, and every admitted spec must give pods whose args and env
// the trainer accepts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { z } from 'zod';
import { flagName, parseArgs, ConfigError } from '../../trainer/contract/index.js';
import { parseSimCLRJob, TrainingSpec, GROUP, PLURAL, VERSION, KIND } from '../../operator/api/schema.js';
import { desiredPod } from '../../operator/reconcile/desired.js';
import { repoRoot } from '../agent/node-agent.js';
import { startControlPlane, type ControlPlane } from '../controlplane/harness.js';
import { createNamespace, installCrd } from './helpers.js';

const NS = 'admission';
const IMAGE = 'simclr-trainer:test';
let cp: ControlPlane;

before(async () => {
  cp = await startControlPlane();
  await installCrd(cp);
  await createNamespace(cp, NS);
});
after(async () => {
  await cp?.stop();
});

type Spec = { replicas?: number; training?: Record<string, unknown>; data?: object; resources?: object; volumes?: object[];
  runPolicy?: object };

interface Field {
  type?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
}

/** Values at and just past each bound of one field, as its JSON schema states them. */
function edgeValues(f: Field): unknown[] {
  if (f.enum !== undefined) return [...f.enum, 'no-such-value'];
  if (f.type === 'boolean') return [true, false];
  const out: number[] = [];
  const step = f.type === 'integer' ? 1 : 1e-3;
  if (f.minimum !== undefined) {
    out.push(f.minimum, f.minimum - step, f.minimum + step, Math.floor(f.minimum), Math.floor(f.minimum) - 1);
  }
  if (f.maximum !== undefined) out.push(f.maximum, f.maximum + step, f.maximum - step, Math.ceil(f.maximum) + 1);
  if (f.type === 'integer' && f.minimum !== undefined) out.push(f.minimum + 0.5);
  return [...new Set(out)];
}

function fieldEdgeSpecs(): Spec[] {
  const schema = z.toJSONSchema(TrainingSpec, { target: 'openapi-3.0', io: 'input' }) as {
    properties: Record<string, Field>;
  };
  const specs: Spec[] = [];
  for (const [key, field] of Object.entries(schema.properties)) {
    for (const value of edgeValues(field)) specs.push({ training: { [key]: value } });
  }
  for (const replicas of [0, 1, 2, 4096, 4097]) specs.push({ replicas, training: { batchSize: 4096 * 2 } });
  return specs;
}

/** Every combination around the cross-field rules: batch split, gradient-cache chunk, sync BN, data sets. */
function ruleEdgeSpecs(): Spec[] {
  const specs: Spec[] = [];
  for (const batchSize of [2, 6, 8, 12]) {
    for (const replicas of [1, 2, 3, 4]) {
      for (const gradientCacheChunk of [0, 1, 2, 3, 4, 6, 8, 12, 13]) {
        for (const convertToSyncBn of [false, true]) {
          specs.push({ replicas, training: { batchSize, gradientCacheChunk, convertToSyncBn } });
        }
      }
    }
  }
  for (const dataset of TrainingSpec.shape.dataset.unwrap().options) {
    specs.push({ training: { dataset } }, { training: { dataset }, data: { claimName: 'd' } });
  }
  // The CUDA provider's options, on each provider (a GPU requested, so only the options' rule decides).
  for (const executionProvider of ['cpu', 'webgpu', 'cuda']) {
    for (const cuda of [{}, { cudaTf32: false }, { cudnnConvAlgoSearch: 'heuristic' }, { cudaMemoryLimitMib: 4096 }]) {
      specs.push({ training: { executionProvider, ...cuda }, resources: { gpu: 1 } });
    }
  }
  for (const gpu of [0, 1]) {
    for (const executionProvider of ['cpu', 'cuda']) specs.push({ resources: { gpu }, training: { executionProvider } });
  }
  // fp16 needs a GPU provider's float16 kernels.
  for (const executionProvider of ['cpu', 'webgpu', 'cuda', undefined]) {
    for (const precision of ['fp32', 'fp16']) specs.push({ training: { precision, ...(executionProvider ? { executionProvider } : {}) }, resources: { gpu: 1 } });
  }
  return specs;
}

/** What the trainer says about the run a spec describes, as a user would launch it: the spec's training fields as
 * flags, one process per rank. Undefined when it runs; else the trainer's one-line reason. */
function trainerVerdict(spec: Spec): string | undefined {
  const replicas = spec.replicas ?? 1;
  const flags = Object.entries(spec.training ?? {}).map(([k, v]) => `--${flagName(k)}=${String(v)}`);
  if (spec.data !== undefined) flags.push('--data-dir=/data');
  for (const rank of new Set([0, Math.max(0, replicas - 1)])) {
    try {
      parseArgs([...flags, `--num-replicas=${replicas}`, `--distributed-rank=${rank}`]);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
  }
  // A pod that asks the CUDA provider needs a GPU (the trainer would fail to load the provider without one).
  const gpu = (spec.resources as { gpu?: number } | undefined)?.gpu ?? 0;
  if (spec.training?.executionProvider === 'cuda' && gpu === 0) return 'cuda needs a GPU';
  return undefined;
}

interface Admission {
  admitted: boolean;
  body: any;
}

async function dryRunCreate(name: string, spec: Spec): Promise<Admission> {
  const res = await cp.request('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}?dryRun=All`, {
    apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name }, spec: { image: IMAGE, ...spec } });
  if (res.status !== 201 && res.status !== 422) throw new Error(`dry run: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { admitted: res.status === 201, body: res.body };
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((x, j) => fn(x, i + j)))));
  }
  return out;
}

/** Pods of an admitted job run: the args and env the operator gives each rank parse in the trainer. */
function podsRun(stored: unknown): void {
  const job = parseSimCLRJob(stored);
  for (const rank of new Set([0, job.spec.replicas - 1])) {
    const c = desiredPod(job, rank, 0).spec!.containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    parseArgs(c.args ?? [], env);
  }
}

test('the apiserver admits a spec exactly when the trainer runs it, at every edge of every rule', async () => {
  const specs = [...fieldEdgeSpecs(), ...ruleEdgeSpecs()];
  const results = await inBatches(specs, 8, (spec, i) => dryRunCreate(`edge-${i}`, spec));
  const disagreements: string[] = [];
  let admitted = 0;
  for (const [i, spec] of specs.entries()) {
    const r = results[i]!;
    const trainer = trainerVerdict(spec);
    if (r.admitted !== (trainer === undefined)) {
      disagreements.push(`${JSON.stringify(spec)}: apiserver ${r.admitted ? 'admits' : `rejects (${r.body.message})`}, ` +
        `trainer ${trainer === undefined ? 'runs it' : `refuses (${trainer})`}`);
      continue;
    }
    if (r.admitted) {
      admitted++;
      podsRun(r.body);
    } else {
      // A rejection names its field and says only what is wrong: no CEL evaluation errors beside it. (The apiserver's
      // own note that rules were skipped on an invalid object has no field; it is not one of our rules.)
      const causes = ((r.body.details?.causes ?? []) as Array<{ field?: string; message: string }>)
        .filter((c) => !/some validation rules were not checked/.test(c.message));
      assert.ok(causes.length > 0, JSON.stringify(r.body));
      for (const c of causes) {
        assert.ok(c.field !== undefined && c.field !== '' && c.field !== '<nil>', `no field: ${JSON.stringify(r.body)}`);
        assert.doesNotMatch(c.message, /modulus by zero|no such key|evaluation error/, JSON.stringify(spec));
      }
    }
  }
  assert.deepEqual(disagreements, []);
  // Both verdicts occur often, so agreement is not one side saying yes to everything.
  assert.ok(admitted > 100 && specs.length - admitted > 100, `${admitted} of ${specs.length} admitted`);
  process.stderr.write(`admission parity: ${specs.length} specs, ${admitted} admitted, all agree with the trainer\n`);
});

test('the cross-field rules reject naming the field and the rule, as the trainer says them', async () => {
  const r = await dryRunCreate('chunk', { replicas: 2, training: { batchSize: 8, gradientCacheChunk: 3 } });
  assert.equal(r.admitted, false);
  const cause = r.body.details.causes[0];
  assert.equal(cause.field, 'spec.training.gradientCacheChunk');
  assert.match(cause.message, /spec.training.gradientCacheChunk does not divide the local batch \(spec.training.batchSize \/ spec.replicas\)/);
  const zero = await dryRunCreate('zero', { replicas: 0 });
  assert.deepEqual(zero.body.details.causes.map((c: { field: string }) => c.field), ['spec.replicas']);
  assert.equal((await dryRunCreate('sync', { replicas: 2, training: { batchSize: 8, convertToSyncBn: true } })).admitted, true);
  const sync = await dryRunCreate('sync-chunks', { replicas: 2, training: { batchSize: 8, gradientCacheChunk: 2, convertToSyncBn: true } });
  assert.equal(sync.body.details.causes[0].field, 'spec.training.convertToSyncBn');
  assert.match(sync.body.details.causes[0].message, /spec.training.convertToSyncBn needs each replica's batch in one chunk, and spec.training.gradientCacheChunk splits it/);
  const half = await dryRunCreate('half', { training: { precision: 'fp16' } });
  assert.equal(half.body.details.causes[0].field, 'spec.training.precision');
  assert.match(half.body.details.causes[0].message, /spec.training.precision needs the float16 kernels of a GPU provider, which spec.training.executionProvider is not/);
  const width = await dryRunCreate('width', { training: { widthMultiplier: 0 } });
  assert.equal(width.body.details.causes[0].field, 'spec.training.widthMultiplier');
});

test('extra volumes: a mount on the operator\'s paths or a repeated name is rejected naming the field', async () => {
  const at = (name: string, mountPath: string): object => ({ name, mountPath, volume: { emptyDir: {} } });
  const ok = await dryRunCreate('extra-ok', { volumes: [at('cache', '/cache'), { ...at('creds', '/var/run/creds'), readOnly: true }] });
  assert.equal(ok.admitted, true, JSON.stringify(ok.body));
  const reserved = await dryRunCreate('extra-data', { volumes: [at('cache', '/data/cache')] });
  assert.equal(reserved.admitted, false);
  assert.equal(reserved.body.details.causes[0].field, 'spec.volumes[0].mountPath');
  assert.match(reserved.body.details.causes[0].message, /mountPath is on, in or above a path the operator mounts/);
  const above = await dryRunCreate('extra-dev', { volumes: [at('dev', '/dev')] });
  assert.equal(above.body.details.causes[0].field, 'spec.volumes[0].mountPath');
  const twice = await dryRunCreate('extra-twice', { volumes: [at('cache', '/a'), at('cache', '/b')] });
  assert.equal(twice.admitted, false);
  assert.equal(twice.body.details.causes[0].field, 'spec.volumes');
  assert.match(twice.body.details.causes[0].message, /each extra volume needs its own name and its own mountPath/);
});

test('job names: too long for pod hostnames, or not a DNS label, rejected at metadata.name', async () => {
  for (const name of ['x'.repeat(59), 'no_underscores']) {
    const r = await cp.request('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}?dryRun=All`, {
      apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name }, spec: { image: IMAGE } });
    assert.equal(r.status, 422, name);
    const fields = (r.body.details.causes as Array<{ field: string }>).map((c) => c.field);
    assert.ok(fields.every((f) => f === 'metadata.name'), `${name}: ${JSON.stringify(r.body.details.causes)}`);
  }
  assert.equal((await dryRunCreate('x'.repeat(58), {})).admitted, true);
});

test('the pod allow-list: the operator\'s env names, long values and node volumes are rejected naming the field', async () => {
  const rank = await dryRunCreate('env-rank', { env: [{ name: 'NCCL_DEBUG', value: 'INFO' }, { name: 'RANK', value: '1' }] } as Spec);
  assert.equal(rank.admitted, false);
  assert.equal(rank.body.details.causes[0].field, 'spec.env[1].name');
  assert.match(rank.body.details.causes[0].message, /RANK is set by the operator/);
  const big = await dryRunCreate('env-big', { env: [{ name: 'BLOB', value: 'x'.repeat(200 * 1024) }] } as Spec);
  assert.equal(big.admitted, false);
  assert.equal(big.body.details.causes[0].field, 'spec.env[0].value');
  const both = await dryRunCreate('env-both', { env: [{ name: 'K', value: 'v',
    valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] } as Spec);
  assert.match(both.body.message, /spec.env\[0\].*value or valueFrom, not both/);
  const secret = await dryRunCreate('env-secret', { env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] } as Spec);
  assert.equal(secret.admitted, true);
  const two = await dryRunCreate('two', { data: { volume: { hostPath: { path: '/etc' }, emptyDir: {} } } });
  assert.equal(two.admitted, false);
  assert.equal(two.body.details.causes[0].field, 'spec.data.volume');
  assert.match(two.body.details.causes[0].message, /set exactly one volume source \(persistentVolumeClaim, emptyDir/);
  // hostPath alone is a kind the CRD knows (an admin may allow it): the chart's admission policy refuses it unless
  // allowed (test/chart/chart.test.ts), and so does the operator (operator/reconcile/plan.test.ts).
  assert.equal((await dryRunCreate('host', { data: { volume: { hostPath: { path: '/etc' } } } })).admitted, true);
});

test('podTemplate takes labels and annotations only: kubectl refuses the rest by name, lenient clients lose it', async () => {
  const manifest = JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name: 'escape', namespace: NS },
    spec: { image: IMAGE, podTemplate: { metadata: { labels: { team: 'a' } },
      spec: { hostNetwork: true, serviceAccountName: 'admin', containers: [{ name: 'trainer', command: ['sh'] }] } } } });
  await assert.rejects(cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest }),
    /unknown field "spec.podTemplate.spec"/);
  // Without strict field validation the apiserver prunes what the schema does not know: nothing of it is stored.
  const r = await cp.request('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}?dryRun=All`, JSON.parse(manifest));
  assert.equal(r.status, 201);
  assert.deepEqual(r.body.spec.podTemplate, { metadata: { labels: { team: 'a' } } });
});

test('failurePolicy rules: a rule without a matcher, a bad code, a repeat or an unknown action rejected naming the field; the README\'s example admitted', async () => {
  const withRules = (...rules: object[]): Spec => ({ runPolicy: { failurePolicy: { rules } } } as Spec);
  const cause = async (name: string, spec: Spec): Promise<{ field: string; message: string }> => {
    const r = await dryRunCreate(name, spec);
    assert.equal(r.admitted, false, `${name}: ${JSON.stringify(spec)}`);
    return r.body.details.causes[0];
  };
  const none = await cause('rule-none', withRules({ action: 'FailJob' }));
  assert.equal(none.field, 'spec.runPolicy.failurePolicy.rules[0]');
  assert.match(none.message, /a failure rule needs onExitCodes, onPodConditions or onReasons: add one/);
  const zero = await cause('rule-zero', withRules({ action: 'FailJob', onExitCodes: { operator: 'In', values: [0] } }));
  assert.equal(zero.field, 'spec.runPolicy.failurePolicy.rules[0].onExitCodes.values[0]');
  const twice = await cause('rule-twice', withRules({ action: 'Ignore', onExitCodes: { operator: 'In', values: [75, 75] } }));
  assert.equal(twice.field, 'spec.runPolicy.failurePolicy.rules[0].onExitCodes.values[1]');
  assert.match(twice.message, /Duplicate value: 75/);
  const verb = await cause('rule-verb', withRules({ action: 'Retry', onReasons: ['OOMKilled'] }));
  assert.equal(verb.field, 'spec.runPolicy.failurePolicy.rules[0].action');
  assert.match(verb.message, /supported values: "FailJob", "RestartJob", "Ignore"/);
  const op = await cause('rule-op', withRules({ action: 'FailJob', onExitCodes: { operator: 'Equals', values: [1] } }));
  assert.equal(op.field, 'spec.runPolicy.failurePolicy.rules[0].onExitCodes.operator');
  // The example a user copies from the README is admitted as written, with its defaults filled in.
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Failure rules'));
  const example = yaml.load(section.slice(section.indexOf('```yaml') + 7, section.indexOf('```', section.indexOf('```yaml') + 7))) as
    { spec: Spec };
  const ok = await dryRunCreate('rule-readme', example.spec);
  assert.equal(ok.admitted, true, JSON.stringify(ok.body));
  const stored = parseSimCLRJob(ok.body).spec.runPolicy.failurePolicy!.rules;
  assert.deepEqual(stored.map((r) => r.action), ['RestartJob', 'FailJob', 'FailJob']);
});
