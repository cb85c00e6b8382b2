// Tests of the control-plane harness against the real binaries built by test/controlplane/build.sh.
// No skipping: without the binaries the first test fails with a message naming build.sh.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { eventually } from './eventually.js';
import { KWOK, startControlPlane, type ControlPlane } from './harness.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a missing binary gives an error that names build.sh', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'simclr-nobin-'));
  try {
    await assert.rejects(startControlPlane({ binDir: empty }), (err: Error) => {
      assert.match(err.message, /test\/controlplane\/build\.sh/);
      assert.match(err.message, /etcd/);
      return true;
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

describe('control plane with controller-manager, scheduler and kwok', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  const ns = 'cp-test';

  before(async () => {
    const t0 = Date.now();
    cp = await startControlPlane({ controllerManager: true, kwok: true });
    process.stderr.write(`control plane ready in ${Date.now() - t0} ms\n`);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
  });

  after(async () => {
    await cp?.stop();
  });

  test('/version reports the real release and kubectl talks to it', async () => {
    const v = await cp.request('GET', '/version');
    assert.equal(v.status, 200);
    assert.match(v.body.gitVersion, /^v1\.34\.\d+$/);
    assert.equal(v.body.major, '1');
    assert.equal(v.body.minor, '34');
    const { stdout } = await cp.kubectl(['version', '-o', 'json']);
    const kv = JSON.parse(stdout);
    assert.equal(kv.serverVersion.gitVersion, v.body.gitVersion);
    assert.equal(kv.clientVersion.gitVersion, v.body.gitVersion);
    await cp.kubectl(['create', 'namespace', ns]);
  });

  test('the fake node advertises nvidia.com/gpu and is Ready', async () => {
    const node = await core.readNode({ name: cp.nodes[0]! });
    assert.equal(node.status?.capacity?.['nvidia.com/gpu'], '8');
    assert.equal(node.status?.allocatable?.['nvidia.com/gpu'], '8');
    assert.ok(node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  });

  const podBody = (name: string): V1Pod => ({
    metadata: { name, labels: { app: 'cp-test' } },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'trainer',
          image: 'example.invalid/trainer:test',
          resources: { limits: { 'nvidia.com/gpu': '1' }, requests: { cpu: '1', memory: '1Gi' } },
        },
      ],
    },
  });

  const waitPhase = (name: string, phase: string) =>
    eventually(`pod ${name} ${phase}`, async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name });
      return p.status?.phase === phase ? p : undefined;
    }, 60_000, 250);

  test('a pod is scheduled onto the fake node and goes Running, then Succeeded on request', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podBody('ok') });
    const running = await waitPhase('ok', 'Running');
    assert.equal(running.spec?.nodeName, cp.nodes[0]);
    assert.ok(running.status?.podIP);
    await cp.completePod(ns, 'ok');
    const done = await waitPhase('ok', 'Succeeded');
    assert.equal(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  });

  test('a pod fails on request with the given exit code and reason', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podBody('bad') });
    await waitPhase('bad', 'Running');
    await cp.failPod(ns, 'bad', { exitCode: 137, reason: 'OOMKilled', message: 'out of memory' });
    const failed = await waitPhase('bad', 'Failed');
    const term = failed.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(term?.exitCode, 137);
    assert.equal(term?.reason, 'OOMKilled');
    assert.equal(term?.message, 'out of memory');
  });

  test('labels set at creation with a delay fail the pod after it ran', async () => {
    const body = podBody('delayed');
    body.metadata!.labels![KWOK.failLabel] = 'true';
    body.metadata!.annotations = { [KWOK.delayAnnotation]: '1s', [KWOK.exitCodeAnnotation]: '3' };
    await core.createNamespacedPod({ namespace: ns, body });
    const failed = await waitPhase('delayed', 'Failed');
    assert.equal(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
  });

  test('deleting a Running pod on the fake node removes it (kwok plays the kubelet)', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podBody('gone') });
    await waitPhase('gone', 'Running');
    await core.deleteNamespacedPod({ namespace: ns, name: 'gone' });
    await eventually('pod gone deleted', async () => {
      try {
        await core.readNamespacedPod({ namespace: ns, name: 'gone' });
        return undefined;
      } catch (err) {
        return /404|not found/i.test(String(err)) ? true : undefined;
      }
    }, 60_000, 250);
  });

  test('the garbage collector deletes an owned ConfigMap when its owner goes', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
        data: { a: 'b' },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await eventually(
      'owned ConfigMap garbage-collected',
      async () => {
        const { items } = await core.listNamespacedConfigMap({ namespace: ns });
        return items.some((c) => c.metadata?.name === 'owned') ? undefined : true;
      },
      90_000,
      250,
    );
  });

  test('stop() kills every process and removes the temp dir', async () => {
    const pids = readFileSync(join(cp.dir, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
    assert.ok(pids.length >= 5, `expected 5 processes, got ${pids.length}`);
    assert.ok(pids.every(isAlive));
    await cp.stop();
    assert.ok(!pids.some(isAlive), 'a component outlived stop()');
    assert.ok(!existsSync(cp.dir));
  });
});
