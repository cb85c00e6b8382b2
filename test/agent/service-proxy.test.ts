// Which pods a Service's cluster IP forwards to (the node agent's proxy): ready, Running pods of the Service's
// namespace that match its selector, at the targetPort named or numbered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { serviceEndpoints } from './service-proxy.js';

const svc: V1Service = { metadata: { name: 'op', namespace: 'ops' },
  spec: { clusterIP: '127.96.0.9', selector: { app: 'op' }, ports: [{ port: 8080, targetPort: 'http' as never }] } };

function pod(name: string, ip: string, opts: { ns?: string; app?: string; ready?: boolean; phase?: string } = {}): V1Pod {
  return { metadata: { name, namespace: opts.ns ?? 'ops', labels: { app: opts.app ?? 'op' } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 9443 }] }] },
    status: { phase: opts.phase ?? 'Running', podIP: ip,
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] } } as V1Pod;
}

test('ready pods behind the selector, at the named targetPort; not-ready, other namespaces and labels left out', () => {
  const pods = [pod('a', '127.1.0.2'), pod('b', '127.1.0.1'), pod('c', '127.1.0.3', { ready: false }),
    pod('d', '127.1.0.4', { ns: 'other' }), pod('e', '127.1.0.5', { app: 'else' }),
    pod('f', '127.1.0.6', { phase: 'Pending' })];
  assert.deepEqual(serviceEndpoints(svc, svc.spec!.ports![0]!, pods), ['127.1.0.1:9443', '127.1.0.2:9443']);
  const numbered = { port: 80, targetPort: 8081 as never };
  assert.deepEqual(serviceEndpoints(svc, numbered, [pod('a', '127.1.0.2')]), ['127.1.0.2:8081']);
});
