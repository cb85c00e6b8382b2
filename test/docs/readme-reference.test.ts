// README.md's "SimCLRJob reference" is generated from the schema (scripts/gen-reference.ts); this fails when they drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimCLRJobSpec } from '../../operator/api/schema.js';
import { BEGIN, END, renderReference, withReference } from '../../scripts/gen-reference.js';
import { repoRoot } from '../agent/node-agent.js';

const README = readFileSync(join(repoRoot(), 'README.md'), 'utf8');

test('the README reference is what the generator writes from the current schema', () => {
  const section = README.slice(README.indexOf(BEGIN), README.indexOf(END) + END.length);
  assert.ok(section.startsWith(BEGIN), `README.md lacks the marker ${BEGIN}`);
  assert.equal(section, renderReference(),
    'README.md\'s SimCLRJob reference is stale: run `npx tsx scripts/gen-reference.ts` (or `make crds`)');
});

test('every spec field, nested ones included, has its row', () => {
  const reference = renderReference();
  const walk = (shape: Record<string, any>, path: string): string[] => Object.entries(shape).flatMap(([k, v]) => {
    let inner: any = v;
    // Unwrap optional/default/prefault/pipe wrappers to reach an object's shape, if any.
    for (let i = 0; i < 5 && inner?.def?.innerType; i++) inner = inner.def.innerType;
    const nested = inner?.shape ?? inner?.def?.in?.shape;
    return [`${path}.${k}`, ...(nested ? walk(nested, `${path}.${k}`) : [])];
  });
  const shape = (SimCLRJobSpec as any).def?.in?.shape ?? (SimCLRJobSpec as any).shape;
  assert.ok(shape, 'cannot read the spec schema shape');
  const fields = walk(shape, 'spec');
  assert.ok(fields.length > 40, `only ${fields.length} fields found`);
  const missing = fields.filter((f) => !reference.includes(`| \`${f}\` |`));
  assert.deepEqual(missing, []);
});

test('a README without the markers gets an error that says what to add', () => {
  assert.throws(() => withReference('# no markers'), /add the lines/);
});

test("the README's Metrics table names exactly the operator's metrics", async () => {
  const { OperatorMetrics } = await import('../../operator/controller/metrics.js');
  const registered = (await new OperatorMetrics().registry.getMetricsAsJSON()).map((m) => m.name).sort();
  const section = README.slice(README.indexOf('## Metrics'), README.indexOf('\n## ', README.indexOf('## Metrics') + 1));
  const documented = [...section.matchAll(/^\| `(simclr_[a-z_]+)/gm)].map((m) => m[1]!).sort();
  assert.deepEqual(documented, registered);
});
