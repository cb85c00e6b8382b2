// Generates the CustomResourceDefinition from the zod schema in schema.ts: a structural OpenAPI v3 schema
// (types on every node, no additionalProperties:false, int-or-string and preserve-unknown-fields markers),
// the status subresource, printer columns and the CEL rules carried in the schema's metadata.
import { z } from 'zod';
import * as yaml from 'js-yaml';
import {
  GROUP,
  KIND,
  MAX_JOB_NAME,
  PLURAL,
  SHORT_NAME,
  SimCLRJobSpec,
  SimCLRJobStatus,
  SINGULAR,
  VERSION,
} from './schema.js';

type JsonSchema = { [key: string]: unknown };

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Rewrites one zod-emitted JSON schema node (and its children) into the structural form the apiserver wants. */
export function toStructural(node: JsonSchema): JsonSchema {
  if (node['x-kubernetes-preserve-unknown-fields'] === true) {
    const out: JsonSchema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    if (typeof node.description === 'string') out.description = node.description;
    return out;
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    const out: JsonSchema = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    if (node.description !== undefined) out.description = node.description;
    if (node.default !== undefined) out.default = node.default;
    return out;
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'id' || key === 'additionalProperties' || key === 'properties') continue;
    if ((key === 'maximum' && value === SAFE_INT) || (key === 'minimum' && value === -SAFE_INT)) continue;
    out[key] = value;
  }
  if (node.properties !== undefined) {
    const props = node.properties as Record<string, JsonSchema>;
    out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, toStructural(v)]));
  }
  if (typeof node.additionalProperties === 'object' && node.additionalProperties !== null) {
    const ap = node.additionalProperties as JsonSchema;
    // An object with arbitrary values and no declared properties: a map (z.record).
    if (Object.keys(ap).length > 0) out.additionalProperties = toStructural(ap);
  }
  if (node.items !== undefined) out.items = toStructural(node.items as JsonSchema);
  const fractional = fractionalBoundRules(node);
  if (fractional.length > 0) out['x-kubernetes-validations'] = fractional;
  if (out.type === undefined) throw new Error(`schema node has no type (not structural): ${JSON.stringify(node)}`);
  return out;
}

/** The apiserver checks `minimum: 0.0625` against an integer value as `minimum: 0` (it truncates the bound to the
 * value's type), so `widthMultiplier: 0` would pass; a CEL rule on the same bound checks it as a number. */
function fractionalBoundRules(node: JsonSchema): Array<{ rule: string; message: string }> {
  if (node.type !== 'number') return [];
  const rules: Array<{ rule: string; message: string }> = [];
  const bound = (key: 'minimum' | 'maximum', op: string, strictOp: string): void => {
    const v = node[key];
    if (typeof v !== 'number' || Number.isInteger(v)) return;
    const strict = node[key === 'minimum' ? 'exclusiveMinimum' : 'exclusiveMaximum'] === true;
    const cmp = strict ? strictOp : op;
    rules.push({ rule: `self ${cmp} ${v}`, message: `must be ${cmp} ${v}` });
  };
  bound('minimum', '>=', '>');
  bound('maximum', '<=', '<');
  return rules;
}

function schemaOf(t: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(t, { target: 'openapi-3.0', io: 'input' }) as JsonSchema);
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: JsonSchema;
}

export function buildCrd(): CustomResourceDefinition {
  const spec = schemaOf(SimCLRJobSpec);
  const status = schemaOf(SimCLRJobStatus);
  const openAPIV3Schema: JsonSchema = {
    type: 'object',
    description: 'SimCLRJob runs distributed SimCLR pre-training as a gang of rank-labelled pods.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      // Declared so the name rules below can report at metadata.name (a fieldPath must exist in the schema).
      metadata: { type: 'object', properties: { name: { type: 'string' } } },
      spec,
      status,
    },
    'x-kubernetes-validations': [
      {
        rule: `size(self.metadata.name) <= ${MAX_JOB_NAME}`,
        message: `must be at most ${MAX_JOB_NAME} characters (pod hostnames are <name>-<rank>)`,
        fieldPath: '.metadata.name',
      },
      {
        rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        message: 'must be a DNS-1035 label (lower case, starts with a letter): it names the Service',
        fieldPath: '.metadata.name',
      },
    ],
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: [SHORT_NAME] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
            { name: 'Epoch', type: 'integer', jsonPath: '.status.progress.epoch' },
            { name: 'Loss', type: 'number', jsonPath: '.status.progress.loss' },
            { name: 'Restarts', type: 'integer', jsonPath: '.status.restartCount', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

export const CRD_HEADER =
  '# Generated by `npx tsx operator/api/gen-crd.ts` from operator/api/schema.ts. Do not edit.\n';

export function renderCrdYaml(): string {
  return CRD_HEADER + yaml.dump(buildCrd(), { lineWidth: 120, noRefs: true, sortKeys: false });
}
