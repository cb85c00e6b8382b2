import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch } from './merge-patch.js';

test('RFC 7386: objects merge, scalars and plain arrays replace, null deletes', () => {
  const target = { a: 1, b: { c: 2, d: 3 }, args: ['x', 'y'] };
  assert.deepEqual(mergePatch(target, { a: 5, b: { d: null, e: 4 }, args: ['z'] }),
    { a: 5, b: { c: 2, e: 4 }, args: ['z'] });
  assert.deepEqual(target, { a: 1, b: { c: 2, d: 3 }, args: ['x', 'y'] }); // untouched
});

test('containers, volumes and env merge by name; new names are appended', () => {
  const target = { containers: [{ name: 't', image: 'i', env: [{ name: 'A', value: '1' }] }], volumes: [{ name: 'v' }] };
  const patch = { containers: [{ name: 't', env: [{ name: 'A', value: '2' }, { name: 'B', value: '3' }] },
    { name: 's', image: 'side' }], volumes: [{ name: 'w', emptyDir: {} }] };
  assert.deepEqual(mergePatch(target, patch), {
    containers: [{ name: 't', image: 'i', env: [{ name: 'A', value: '2' }, { name: 'B', value: '3' }] },
      { name: 's', image: 'side' }],
    volumes: [{ name: 'v' }, { name: 'w', emptyDir: {} }],
  });
});
