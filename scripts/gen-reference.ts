// Generates README.md's "SimCLRJob reference" from the CRD that operator/api/crd.ts builds out of the zod schema
// (fields, types, defaults, ranges, descriptions, validation rules, printer columns), between two marker lines.
// Run: npx tsx scripts/gen-reference.ts (also part of `make crds`); test/docs/readme-reference.test.ts fails when
// the README and the schema drift apart.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCrd } from '../operator/api/crd.js';

export const BEGIN = '<!-- BEGIN GENERATED SimCLRJob reference: npx tsx scripts/gen-reference.ts -->';
export const END = '<!-- END GENERATED SimCLRJob reference -->';

type Schema = {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
  pattern?: string;
  minLength?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  anyOf?: Schema[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: Array<{ rule: string; message: string; fieldPath?: string }>;
};

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'quantity';
  if (s['x-kubernetes-preserve-unknown-fields']) return 'object (Kubernetes type)';
  if (s.type === 'array') return `${typeOf(s.items ?? {})}[]`;
  if (s.type === 'object' && s.additionalProperties) return `map[string]${typeOf(s.additionalProperties)}`;
  return s.type ?? 'any';
}

function bound(v: number, exclusive: boolean | number | undefined, open: string, closed: string): string {
  return `${exclusive === true ? open : closed}${v}`;
}

/** Allowed values in one short phrase: an enum, a range, a pattern. */
function allowed(s: Schema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(', ');
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(bound(s.minimum, s.exclusiveMinimum, '> ', '>= '));
  if (typeof s.exclusiveMinimum === 'number') parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(bound(s.maximum, s.exclusiveMaximum, '< ', '<= '));
  if (typeof s.exclusiveMaximum === 'number') parts.push(`< ${s.exclusiveMaximum}`);
  if (s.pattern) parts.push(`matches \`${s.pattern}\``);
  return parts.join(', ');
}

function rows(s: Schema, path: string, out: string[]): void {
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const p = `${path}.${key}`;
    const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    out.push(`| \`${p}\` | ${typeOf(child)} | ${def} | ${cell(allowed(child))} | ${cell(child.description ?? '')} |`);
    if (child.type === 'object' && child.properties) rows(child, p, out);
  }
}

/** The reference section's body, from the CRD. */
export function renderReference(): string {
  const crd = buildCrd().spec as any;
  const version = crd.versions[0];
  const root = version.schema.openAPIV3Schema as Schema;
  const spec = root.properties!.spec!;
  const status = root.properties!.status!;
  const out: string[] = [
    BEGIN,
    `\`${crd.group}/${version.name}\`, kind \`${crd.names.kind}\`, short name \`${crd.names.shortNames.join(', ')}\`, ` +
      'namespaced. Generated from `operator/api/schema.ts` (through the CRD in `crds/`); the apiserver applies the ' +
      'defaults and every rule below.',
    '',
    '| field | type | default | allowed | description |',
    '|---|---|---|---|---|',
  ];
  rows(spec, 'spec', out);
  out.push('', 'Rules across fields (CEL, checked by the apiserver; `kubectl apply` prints the field and the message, ' +
    'with the values you gave):', '');
  const rules = [...(root['x-kubernetes-validations'] ?? []).map((v) => ({ ...v, base: '' })),
    ...(spec['x-kubernetes-validations'] ?? []).map((v) => ({ ...v, base: 'spec' }))];
  for (const v of rules) {
    const field = v.fieldPath === undefined ? '' : `\`${v.base}${v.base === '' ? v.fieldPath.slice(1) : v.fieldPath}\`: `;
    out.push(`- ${field}${v.message}`);
  }
  out.push('', 'Status (written by the operator):', '', '| field | type | description |', '|---|---|---|');
  const statusRows: string[] = [];
  rows(status, 'status', statusRows);
  // Drop the default and allowed columns for status: the operator writes it, nobody sets it.
  for (const r of statusRows) {
    const cols = r.split(/(?<!\\)\|/).slice(1, -1);
    const values = cols[3]!.trim() === '' ? '' : ` One of ${cols[3]!.trim()}.`;
    out.push(`|${cols[0]}|${cols[1]}| ${`${cols[4]!.trim()}${values}`.trim()} |`);
  }
  out.push('', `\`kubectl get ${crd.names.shortNames[0]}\` columns: ` +
    version.additionalPrinterColumns.map((c: { name: string; jsonPath: string; priority?: number }) =>
      `${c.name} (\`${c.jsonPath}\`${c.priority ? ', with -o wide' : ''})`).join(', ') + '.', END);
  return out.join('\n');
}

/** README text with the generated section replaced; throws when the markers are missing. */
export function withReference(readme: string, reference = renderReference()): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no generated reference section: add the lines\n${BEGIN}\n${END}`);
  return readme.slice(0, a) + reference + readme.slice(b + END.length);
}


if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = join(process.cwd(), 'README.md');
  writeFileSync(path, withReference(readFileSync(path, 'utf8')));
  process.stdout.write(`wrote the SimCLRJob reference into ${path}\n`);
}
