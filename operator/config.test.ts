import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helpText, loadConfig, wantsHelp } from './config.js';

test('defaults, env fallbacks, flags win over env', () => {
  const c = loadConfig(['--workers=8', '--auth', 'none'], { WATCH_NAMESPACE: 'ml', SIMCLR_AUTH: 'kubernetes' });
  assert.equal(c.workers, 8);
  assert.equal(c.auth, 'none');
  assert.equal(c.namespace, 'ml');
  assert.equal(c.leaderElect, true);
  assert.equal(c.leaseDurationSeconds, 15);
});

test('bad values are refused with the flag named', () => {
  assert.throws(() => loadConfig(['--auth=open'], {}), /auth/);
  assert.throws(() => loadConfig(['--leader-elect=maybe'], {}), /leader-elect/);
  assert.throws(() => loadConfig(['--workers=0'], {}), /workers/);
  assert.throws(() => loadConfig(['--renew-deadline-seconds=20'], {}), /renew-deadline-seconds must be below/);
  assert.throws(() => loadConfig(['--nope=1'], {}), /nope/);
});

test('TLS: certificate and key go together', () => {
  assert.throws(() => loadConfig(['--tls-cert-file=/etc/tls/tls.crt'], {}), /tls-cert-file and tls-key-file go together/);
  const c = loadConfig([], { SIMCLR_TLS_CERT_FILE: '/etc/tls/tls.crt', SIMCLR_TLS_KEY_FILE: '/etc/tls/tls.key' });
  assert.deepEqual([c.tlsCertFile, c.tlsKeyFile], ['/etc/tls/tls.crt', '/etc/tls/tls.key']);
});

test('the REST API token audience comes from a flag or SIMCLR_TOKEN_AUDIENCE', () => {
  assert.equal(loadConfig(['--token-audience=simclr-operator'], {}).tokenAudience, 'simclr-operator');
  assert.equal(loadConfig([], { SIMCLR_TOKEN_AUDIENCE: 'ops' }).tokenAudience, 'ops');
  assert.equal(loadConfig([], {}).tokenAudience, undefined);
});

test('--extra-volume-kinds: a comma-separated list of the kinds a job may not use by default; others refused', () => {
  assert.deepEqual(loadConfig([], {}).extraVolumeKinds, []);
  assert.deepEqual(loadConfig(['--extra-volume-kinds=hostPath, gitRepo'], {}).extraVolumeKinds, ['hostPath', 'gitRepo']);
  assert.deepEqual(loadConfig([], { SIMCLR_EXTRA_VOLUME_KINDS: 'hostPath' }).extraVolumeKinds, ['hostPath']);
  assert.throws(() => loadConfig(['--extra-volume-kinds=hostpath'], {}), /extraVolumeKinds/);
});

test('--help lists every flag with its environment variable, default and meaning', () => {
  const help = helpText();
  assert.ok(wantsHelp(['--help']) && wantsHelp(['--workers=2', '-h']) && !wantsHelp(['--workers=2']));
  for (const flag of ['kubeconfig', 'listen', 'leader-elect', 'lease-duration-seconds', 'workers', 'extra-volume-kinds']) {
    assert.match(help, new RegExp(`^  --${flag} `, 'm'), flag);
  }
  assert.match(help, /--listen +address of the REST API, probes and metrics; default: 0\.0\.0\.0:8080; env SIMCLR_LISTEN/);
  assert.match(help, /--workers +jobs reconciled in parallel; default: 4$/m);
  // Every flag has a description.
  for (const line of help.split('\n').filter((l) => l.startsWith('  --'))) assert.doesNotMatch(line, /^ {2}--\S+ +default:/, line);
});
