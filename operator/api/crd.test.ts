import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildCrd, renderCrdYaml, toStructural } from './crd.js';
import { CRD_PATH } from './gen-crd.js';

test('crds/ is up to date with the zod schema (run: npx tsx operator/api/gen-crd.ts)', () => {
  assert.equal(readFileSync(CRD_PATH, 'utf8'), renderCrdYaml());
});

type Node = { [k: string]: unknown };

function walk(node: Node, path: string, visit: (n: Node, p: string) => void): void {
  visit(node, path);
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Node>)) walk(v, `${path}.${k}`, visit);
  if (typeof node.items === 'object') walk(node.items as Node, `${path}[]`, visit);
  if (typeof node.additionalProperties === 'object') walk(node.additionalProperties as Node, `${path}{}`, visit);
}

test('the schema is structural: every node has a type or is int-or-string; no additionalProperties:false', () => {
  const version = (buildCrd().spec.versions as Node[])[0]!;
  const root = (version.schema as Node).openAPIV3Schema as Node;
  walk(root, '', (n, p) => {
    assert.ok(n.type !== undefined || n['x-kubernetes-int-or-string'] === true, `no type at ${p}`);
    assert.notEqual(n.additionalProperties, false, `additionalProperties:false at ${p}`);
    assert.ok(!(n.properties !== undefined && n.additionalProperties !== undefined), `both at ${p}`);
  });
});

test('names, status subresource, printer columns and CEL rules are present', () => {
  const crd = buildCrd();
  assert.equal(crd.metadata.name, 'simclrjobs.simclr.dev');
  assert.deepEqual((crd.spec.names as Node).shortNames, ['scj']);
  const v = (crd.spec.versions as Node[])[0]!;
  assert.deepEqual(v.subresources, { status: {} });
  const cols = (v.additionalPrinterColumns as Node[]).map((c) => c.name);
  for (const c of ['Phase', 'Replicas', 'Epoch', 'Loss', 'Age']) assert.ok(cols.includes(c), c);
  const spec = ((v.schema as Node).openAPIV3Schema as Node).properties as Record<string, Node>;
  const rules = (spec.spec!['x-kubernetes-validations'] as Node[]).map((r) => r.rule);
  // The trainer's rules, guarded so that a replicas of 0 reports its range, not CEL's "modulus by zero".
  assert.ok(rules.some((r) => String(r).includes('self.replicas < 1 || ((self.training.batchSize % self.replicas) == 0)')));
});

test('toStructural rejects a node without a type', () => {
  assert.throws(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'boolean' }] }), /no type/);
});
