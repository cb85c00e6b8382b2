// The test node agent against a real control plane (kube-scheduler binds the pods to its node; kube-controller-
// manager binds the claims it provisions): pods run as local processes and report like a kubelet would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../controlplane/eventually.js';
import { startControlPlane, type ControlPlane } from '../controlplane/harness.js';
import { NodeAgent } from './node-agent.js';
import { freePort } from '../../trainer/collectives/free-port.js';

let cp: ControlPlane;
let agent: NodeAgent;
const agentLog: string[] = [];

before(async () => {
  cp = await startControlPlane({ controllerManager: true, scheduler: true });
  // A short restart back-off (the kubelet's starts at 10 s), so a crash loop shows several restarts in seconds.
  agent = await NodeAgent.start({ kubeconfig: cp.kubeconfigPath, root: join(cp.dir, 'agent'),
    restartBackoff: { baseMs: 400, maxMs: 1600 },
    log: (line) => {
      agentLog.push(line);
      if (process.env.SIMCLR_TEST_LOG) process.stderr.write(`node-agent: ${line}\n`);
    } });
});
after(async () => {
  await agent?.stop();
  await cp?.stop();
});

const pod = (name: string, container: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36', ...container }], ...extra } });

async function podStatus(name: string): Promise<any> {
  const r = await cp.request('GET', `/api/v1/namespaces/default/pods/${name}`);
  return r.status === 200 ? r.body.status : undefined;
}

test('the node registers Ready, and the scheduler places pods on it', async () => {
  const node = await cp.request('GET', `/api/v1/nodes/${agent.nodeName}`);
  assert.equal(node.status, 200);
  assert.equal(node.body.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
});

test('a container that exits 3 makes the pod Failed with exit code 3; args and env reach the process', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: pod('fails', { command: ['sh', '-c'],
    args: ['echo "rank=$RANK master=$MASTER_ADDR"; exit 3'],
    env: [{ name: 'RANK', value: '1' }, { name: 'MASTER_ADDR', value: 'job-0.job.default.svc' }] }) });
  const s = await eventually('Failed', async () => ((await podStatus('fails'))?.phase === 'Failed' ? podStatus('fails') : undefined),
    60_000, 200);
  assert.equal(s.containerStatuses[0].state.terminated.exitCode, 3);
  assert.equal(s.containerStatuses[0].state.terminated.reason, 'Error');
  assert.match(s.podIP, /^127\.1\.\d+\.\d+$/, 'each pod gets its own loopback address');
  const log = readFileSync(agent.podRun('default', 'fails')!.containers[0]!.logPath, 'utf8');
  assert.equal(log.trim(), 'rank=1 master=127.0.0.1');
});

test('termination messages as a kubelet reports them: the file at terminationMessagePath, else the log tail', async () => {
  // The default path and a path of the pod's own, each written by the process through the path it was given.
  await cp.kubectl(['apply', '-f', '-'], { input: pod('says-why', { command: ['sh', '-c'],
    args: ['printf "no images in /data" > "$WHY"; exit 2'], env: [{ name: 'WHY', value: '/dev/termination-log' }] }) });
  await cp.kubectl(['apply', '-f', '-'], { input: pod('says-why-here', { command: ['sh', '-c'],
    args: ['printf "custom path" > "$WHY"; exit 1'], env: [{ name: 'WHY', value: '/var/run/why' }],
    terminationMessagePath: '/var/run/why' }) });
  // Nothing written: with FallbackToLogsOnError the log's tail; with the default policy (File), no message.
  await cp.kubectl(['apply', '-f', '-'], { input: pod('logs-why', { command: ['sh', '-c'],
    args: ['echo first; echo "last words" >&2; exit 4'], terminationMessagePolicy: 'FallbackToLogsOnError' }) });
  await cp.kubectl(['apply', '-f', '-'], { input: pod('silent', { command: ['sh', '-c'], args: ['echo quiet; exit 5'] }) });
  const terminated = async (name: string): Promise<any> => eventually(`${name} Failed`, async () => {
    const s = await podStatus(name);
    return s?.phase === 'Failed' ? s.containerStatuses[0].state.terminated : undefined;
  }, 60_000, 200);
  const why = await terminated('says-why');
  assert.deepEqual([why.exitCode, why.message], [2, 'no images in /data']);
  assert.equal((await terminated('says-why-here')).message, 'custom path');
  assert.equal((await terminated('logs-why')).message, 'first\nlast words\n');
  assert.equal((await terminated('silent')).message, undefined);
});

test('deleting a running pod kills its process and completes the deletion', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: pod('sleeps', { command: ['sleep', '300'] }) });
  await eventually('Running', async () => ((await podStatus('sleeps'))?.phase === 'Running' ? true : undefined), 60_000, 200);
  const pid = agent.podRun('default', 'sleeps')!.containers[0]!.child!.pid!;
  assert.doesNotThrow(() => process.kill(pid, 0));
  await cp.kubectl(['delete', 'pod', 'sleeps', '--wait=true', '--timeout=30s']);
  assert.equal(await podStatus('sleeps'), undefined);
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  assert.equal(agent.podRun('default', 'sleeps')!.containers[0]!.exit?.signal, 'SIGTERM');
});

test('a claim gets a volume that outlives the pod; the pod Succeeds', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name: 'store', namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }) });
  // The mount path in env (and args) is rewritten to the claim's folder; inside a shell string it would not be.
  await cp.kubectl(['apply', '-f', '-'], { input: pod('writes', { command: ['sh', '-c', 'echo saved > "$OUT/file"'],
    env: [{ name: 'OUT', value: '/out' }], volumeMounts: [{ name: 'v', mountPath: '/out' }] },
  { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'store' } }] }) });
  const s = await eventually('Succeeded', async () =>
    ((await podStatus('writes'))?.phase === 'Succeeded' ? podStatus('writes') : undefined), 90_000, 200);
  assert.equal(s.containerStatuses[0].state.terminated.exitCode, 0);
  const pvc = await cp.request('GET', '/api/v1/namespaces/default/persistentvolumeclaims/store');
  assert.equal(pvc.body.status.phase, 'Bound');
  const file = join(agent.claimDir('default', 'store'), 'file');
  assert.ok(existsSync(file));
  assert.equal(readFileSync(file, 'utf8'), 'saved\n');
});

test('a pod the agent cannot run says why once and stays Pending; its Deployment does not multiply it', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: pod('unknown', {}) });
  await cp.kubectl(['create', 'deployment', 'unknown-image', '--image=busybox:1.36']);
  const s = await eventually('the reason', async () => ((await podStatus('unknown'))?.reason ? podStatus('unknown') : undefined),
    60_000, 200);
  assert.equal(s.phase, 'Pending');
  assert.equal(s.reason, 'UnsupportedByTestNodeAgent');
  assert.match(s.message, /image busybox:1.36 is not known to the test node agent.*set its command/);
  assert.equal(s.containerStatuses[0].state.waiting.reason, 'UnsupportedByTestNodeAgent');
  await new Promise((r) => setTimeout(r, 5000)); // a few resyncs
  assert.equal((await podStatus('unknown')).phase, 'Pending');
  assert.equal(agentLog.filter((l) => l.startsWith('pod default/unknown:')).length, 1, agentLog.join('\n'));
  const pods = await cp.request('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dunknown-image');
  assert.equal(pods.body.items.length, 1, 'one pod, never replaced');
  assert.equal(pods.body.items[0].status.phase, 'Pending');
});

test('a crashing Deployment pod restarts in place with a growing back-off: the same pod, CrashLoopBackOff', async () => {
  // Each run appends its start time (ms) to a file of a claim-less hostPath, so the gaps between runs can be read.
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'crasher', namespace: 'default' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'crasher' } }, template: { metadata: { labels: { app: 'crasher' } },
      spec: { automountServiceAccountToken: false, volumes: [{ name: 'out', hostPath: { path: '/crasher' } }],
        containers: [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'date +%s%3N >> "$OUT/starts"; exit 3'],
          env: [{ name: 'OUT', value: '/out' }], volumeMounts: [{ name: 'out', mountPath: '/out' }] }] } } } }) });
  const list = async (): Promise<any[]> =>
    (await cp.request('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dcrasher')).body.items;
  const crashed = await eventually('4 restarts', async () => {
    const [p] = await list();
    return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 4 ? p : undefined;
  }, 60_000, 200);
  const all = await list();
  assert.equal(all.length, 1, `one pod, restarted in place: ${all.map((p) => p.metadata.name).join(', ')}`);
  assert.equal(crashed.status.phase, 'Running');
  const cs = crashed.status.containerStatuses[0];
  assert.equal(cs.lastState.terminated.exitCode, 3);
  // Between restarts the container waits, and says so as a kubelet does.
  const waiting = await eventually('CrashLoopBackOff', async () => {
    const w = (await list())[0]?.status?.containerStatuses?.[0]?.state?.waiting;
    return w?.reason === 'CrashLoopBackOff' ? w : undefined;
  }, 30_000, 50);
  assert.match(waiting.message, /^back-off \d+s restarting failed container=main pod=crasher-/);
  const starts = readFileSync(join(agent.volumesRoot, 'hostpath', 'crasher', 'starts'), 'utf8').trim().split('\n').map(Number);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  // 400, 800, 1600, 1600 ms (+ start time): doubling, then capped.
  assert.ok(gaps[0]! >= 400 && gaps[1]! >= 800 && gaps[2]! >= 1600, `gaps ${gaps.join(', ')} ms`);
  assert.ok(gaps[1]! > gaps[0]! * 1.5 && gaps[3]! < gaps[2]! * 1.5 + 300, `gaps ${gaps.join(', ')} ms`);
  await cp.kubectl(['delete', 'deployment', 'crasher', '--wait=true']);
});

test('a pod gets its ServiceAccount token at the in-cluster path, the apiserver address, fieldRefs and Secrets', async () => {
  await cp.kubectl(['create', 'secret', 'generic', 'creds', '--from-literal=key=s3cret']);
  await cp.kubectl(['apply', '-f', '-'], { input: pod('in-cluster', { command: ['sh', '-c',
    'd=/var/run/secrets/kubernetes.io/serviceaccount; echo "$(cat $d/namespace) $POD_NAME $POD_IP ' +
    '$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $(cat "$SECRET/key")"; head -c 3 $d/token; echo; ' +
    'grep -c "BEGIN CERTIFICATE" $d/ca.crt'],
  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, { name: 'SECRET', value: '/etc/creds' }],
  volumeMounts: [{ name: 'creds', mountPath: '/etc/creds' }] },
  { volumes: [{ name: 'creds', secret: { secretName: 'creds' } }] }) });
  const s = await eventually('Succeeded', async () =>
    ((await podStatus('in-cluster'))?.phase === 'Succeeded' ? podStatus('in-cluster') : undefined), 60_000, 200);
  const log = readFileSync(agent.podRun('default', 'in-cluster')!.containers[0]!.logPath, 'utf8').split('\n');
  const server = new URL(cp.server);
  assert.equal(log[0], `default in-cluster ${s.podIP} ${server.hostname}:${server.port} s3cret`);
  assert.equal(log[1], 'eyJ', 'a JWT');
  assert.ok(Number(log[2]) >= 1, 'the cluster CA');
  // The bind mount was the pod's own: the host's folder (empty, or this machine's own token where it is a pod
  // itself) does not hold the pod's token.
  const podToken = readFileSync(join(agent.podRun('default', 'in-cluster')!.plan!.serviceAccount!.dir, 'token'), 'utf8');
  const hostToken = '/var/run/secrets/kubernetes.io/serviceaccount/token';
  assert.ok(!existsSync(hostToken) || readFileSync(hostToken, 'utf8') !== podToken, 'the pod\'s token leaked to the host');
});

test('probes as a kubelet runs them: readiness sets Ready, a failing liveness probe restarts the container in place', async () => {
  // Ready at once; /healthz fails from its third call on. `0.0.0.0:port` is rewritten to the pod's own address.
  const server = 'let n = 0; const [h, p] = process.argv[1].split(":"); require("http").createServer((q, r) => {' +
    ' r.statusCode = q.url === "/healthz" && ++n > 2 ? 500 : 200; r.end(); }).listen(Number(p), h);';
  // A port free now: a socket on 0.0.0.0:<port> anywhere on this shared machine would block the pod's address too.
  const port = await freePort();
  await cp.kubectl(['apply', '-f', '-'], { input: pod('probed', { command: [process.execPath, '-e', server],
    args: [`0.0.0.0:${port}`], ports: [{ name: 'web', containerPort: port }],
    readinessProbe: { httpGet: { path: '/ready', port: 'web' }, periodSeconds: 1 },
    // A second to start listening first: a refused connection is a failure too, as for a kubelet.
    livenessProbe: { httpGet: { path: '/healthz', port }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1 } },
  { restartPolicy: 'Always' }) });
  await eventually('Ready', async () =>
    ((await podStatus('probed'))?.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True' ? true : undefined),
  60_000, 100);
  const s = await eventually('restarted by its liveness probe', async () => {
    const st = await podStatus('probed');
    return st?.containerStatuses?.[0]?.restartCount >= 1 ? st : undefined;
  }, 60_000, 200);
  assert.equal(s.containerStatuses[0].lastState.terminated.exitCode, 143, 'stopped with SIGTERM');
  assert.equal(agent.podRuns().filter((r) => r.name === 'probed').length, 1, 'the same pod');
  assert.match(agentLog.join('\n'), /pod default\/probed: container main failed its liveness probe; restarting it/);
});
