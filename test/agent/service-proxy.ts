// TEST INFRASTRUCTURE: "kube-proxy-lite" for the test node agent's machine. The local cluster allocates Services'
// cluster IPs from a loopback range (see local-cluster.ts), so a ClusterIP here is an address this machine can
// listen on: for each Service with a selector, a TCP listener on clusterIP:port forwards every connection to one of
// the ready pods behind it (round robin), as kube-proxy's rules would. The endpoints are computed here from the
// Service's selector and the pods' Ready condition, as the EndpointSlice controller would: the apiserver refuses
// loopback addresses in EndpointSlices, so that controller cannot publish these pods' IPs.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { KubeClient } from './kube-client.js';

const RESYNC_MS = 1_000;

interface Listener {
  server: Server;
  /** host:port of the ready pods, refreshed every resync. */
  endpoints: string[];
  next: number;
}

/** Ready pods matching a Service's selector, as `ip:port` for one of its ports (targetPort by number or by name). */
export function serviceEndpoints(svc: V1Service, port: V1ServicePort, pods: V1Pod[]): string[] {
  const selector = svc.spec?.selector ?? {};
  const out: string[] = [];
  for (const pod of pods) {
    if (pod.metadata?.namespace !== svc.metadata?.namespace || pod.metadata?.deletionTimestamp) continue;
    if (!Object.entries(selector).every(([k, v]) => pod.metadata?.labels?.[k] === v)) continue;
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (pod.status?.phase !== 'Running' || !ready || !pod.status.podIP) continue;
    const target = port.targetPort ?? port.port;
    const number = typeof target === 'number' ? target : /^[0-9]+$/.test(target) ? Number(target)
      : pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort;
    if (number !== undefined) out.push(`${pod.status.podIP}:${number}`);
  }
  return out.sort();
}

export class ServiceProxy {
  private readonly listeners = new Map<string, Listener>();
  private timer?: NodeJS.Timeout;
  private readonly skipped = new Set<string>();
  private stopped = false;

  private constructor(private readonly client: KubeClient, private readonly log: (line: string) => void) {}

  static async start(client: KubeClient, log: (line: string) => void): Promise<ServiceProxy> {
    const proxy = new ServiceProxy(client, log);
    await proxy.resync();
    proxy.timer = setInterval(() => void proxy.resync(), RESYNC_MS);
    proxy.timer.unref();
    return proxy;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
  }

  private async resync(): Promise<void> {
    try {
      const [svcs, pods] = await Promise.all([this.client.expect([200], 'GET', '/api/v1/services'),
        this.client.expect([200], 'GET', '/api/v1/pods')]);
      if (this.stopped) return;
      const wanted = new Set<string>();
      for (const svc of svcs.items as V1Service[]) {
        const ip = svc.spec?.clusterIP;
        if (!ip || ip === 'None' || svc.spec?.selector === undefined) continue; // headless or manual endpoints
        for (const port of svc.spec?.ports ?? []) {
          if ((port.protocol ?? 'TCP') !== 'TCP') continue;
          const key = `${ip}:${port.port}`;
          if (!ip.startsWith('127.')) {
            if (!this.skipped.has(key)) this.log(`service ${svc.metadata?.namespace}/${svc.metadata?.name}: cluster IP ` +
              `${ip} is not a loopback address; not proxied (start the apiserver with a 127.x service range)`);
            this.skipped.add(key);
            continue;
          }
          wanted.add(key);
          const l = this.listeners.get(key) ?? this.listen(ip, port.port, key);
          l.endpoints = serviceEndpoints(svc, port, pods.items as V1Pod[]);
        }
      }
      for (const [key, l] of this.listeners) {
        if (!wanted.has(key)) {
          l.server.close();
          this.listeners.delete(key);
        }
      }
    } catch (err) {
      if (!this.stopped) this.log(`service proxy resync failed: ${(err as Error).message}`);
    }
  }

  private listen(ip: string, port: number, key: string): Listener {
    const l: Listener = { server: createServer((s) => this.forward(l, s)), endpoints: [], next: 0 };
    l.server.on('error', (err) => this.log(`service proxy: cannot listen on ${key}: ${err.message}`));
    l.server.listen(port, ip);
    this.listeners.set(key, l);
    return l;
  }

  /** No ready endpoint: the connection is refused (closed at once), as kube-proxy's REJECT rule does. */
  private forward(l: Listener, inbound: Socket): void {
    if (l.endpoints.length === 0) {
      inbound.destroy();
      return;
    }
    const target = l.endpoints[l.next++ % l.endpoints.length]!;
    const i = target.lastIndexOf(':');
    const outbound = connect(Number(target.slice(i + 1)), target.slice(0, i));
    inbound.pipe(outbound).pipe(inbound);
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
    inbound.on('close', close);
    outbound.on('close', close);
  }
}
