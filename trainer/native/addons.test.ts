import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddonError, addonCandidates, glooAddon, imageKernels, ortAddon, requireAddon } from './index.js';

const isAddonError = (code: string, message: RegExp) => (err: unknown) =>
  err instanceof AddonError && err.code === code && message.test(err.message);

test('every addon loads through the one door (make test builds them all)', () => {
  assert.equal(typeof glooAddon().ProcessGroup, 'function');
  assert.equal(typeof imageKernels()?.resampleCrop, 'function');
  assert.equal(typeof ortAddon().createSession, 'function');
});

test('a missing addon is an error that names the build command and the Debian package', () => {
  assert.throws(() => glooAddon(['/nonexistent/simclr_gloo.node']), isAddonError('ADDON_MISSING', /npm run build:native.*libgloo-dev.*\/nonexistent/));
});

test('a file that is not an addon is an error naming it and the build command, not a crash', () => {
  const junk = join(mkdtempSync(join(tmpdir(), 'simclr-addon-')), 'simclr_gloo.node');
  writeFileSync(junk, 'not a shared object');
  assert.throws(() => glooAddon([junk]), isAddonError('ADDON_BROKEN', new RegExp(`${junk} does not load .*npm run build:native`)));
});

test('the environment variable names an explicit build, searched first', () => {
  const spec = { file: 'x.node', envVar: 'SIMCLR_X_ADDON', buildHint: 'build x' };
  const [first, ...rest] = addonCandidates(spec, { SIMCLR_X_ADDON: '/opt/x.node' });
  assert.equal(first, '/opt/x.node');
  assert.ok(rest.length > 0 && rest.every((p) => p.endsWith('/native/build/Release/x.node')));
  assert.throws(() => requireAddon(spec, []), isAddonError('ADDON_MISSING', /x\.node is not built: build x/));
});
