// The trainer's modules import each other without a cycle: read from the compiled JavaScript, where type-only
// imports are gone, so this is the order Node evaluates them in (a cycle there leaves some module reading another's
// bindings before they are set). Lazy `import()` calls are not edges: they run after every module has loaded.
// The same check with a library: npx madge --circular --extensions js dist/trainer
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TRAINER = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'trainer');
const STATIC_IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)'|^\s*import\s+'(\.{1,2}\/[^']+)'/gm;

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return modules(path);
    return e.name.endsWith('.js') && !e.name.endsWith('.test.js') ? [path] : [];
  });
}

/** Every module's static imports of other trainer modules. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of modules(TRAINER)) {
    const source = readFileSync(file, 'utf8');
    const targets = [...source.matchAll(STATIC_IMPORT)].map((m) => resolve(dirname(file), (m[1] ?? m[2])!));
    graph.set(file, targets.filter((t) => t.startsWith(TRAINER)));
  }
  return graph;
}

/** One cycle of the graph as a list of modules, or undefined (depth-first search, colouring nodes). */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test('no module of the trainer imports itself through others', () => {
  const graph = importGraph();
  assert.ok(graph.size > 100, `read ${graph.size} modules from ${TRAINER}`);
  const cycle = findCycle(graph);
  assert.equal(cycle?.map((f) => relative(TRAINER, f)).join(' -> '), undefined);
});

test('the search finds a cycle when there is one', () => {
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.deepEqual(findCycle(graph), ['a', 'b', 'c', 'a']);
  assert.equal(findCycle(new Map([['a', ['b']], ['b', []]])), undefined);
});
