// Wires the parts together: caches and REST API on every replica, reconcile workers on the leader only.
import type { Server as HttpsServer } from 'node:https';
import { KubeConfig, type V1NetworkPolicyPeer } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { Controller } from './controller/controller.js';
import { KubeJobClient } from './controller/kube.js';
import { kubeLeaseApi, LeaderElector } from './controller/leader.js';
import { OperatorMetrics } from './controller/metrics.js';
import { KubeAuthenticator } from './server/auth.js';
import { kubeEventLister } from './server/events.js';
import { buildServer } from './server/server.js';
import { readTls, reloadOnChange } from './server/tls.js';

export interface RunningOperator {
  controller: Controller;
  elector?: LeaderElector;
  server: FastifyInstance;
  /** Resolves when leadership is lost (never, without leader election). */
  lostLeadership: Promise<void>;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export function kubeConfigFor(config: Config): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

/** The operator's own pods as a NetworkPolicy peer: its namespace (where its Lease lives), and its pod labels. */
export function operatorPeer(config: Config): V1NetworkPolicyPeer {
  const labels = config.operatorPodLabels === undefined ? undefined
    : Object.fromEntries(config.operatorPodLabels.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': config.leaseNamespace } },
    ...(labels !== undefined && { podSelector: { matchLabels: labels } }),
  };
}

export async function startOperator(config: Config, log: Logger, kc = kubeConfigFor(config)): Promise<RunningOperator> {
  const metrics = new OperatorMetrics(undefined, true);
  const controller = new Controller(kc, new KubeJobClient(kc, config.identity), {
    namespace: config.namespace,
    workers: config.workers,
    progressIntervalMs: config.progressIntervalSeconds * 1000,
    progressTimeoutMs: 2000,
    operatorPeer: operatorPeer(config),
    extraVolumeKinds: config.extraVolumeKinds,
  }, log, metrics);
  const elector = config.leaderElect
    ? new LeaderElector(kubeLeaseApi(kc), {
        namespace: config.leaseNamespace, name: config.leaseName, identity: config.identity,
        leaseDurationSeconds: config.leaseDurationSeconds, renewDeadlineSeconds: config.renewDeadlineSeconds,
        retryPeriodSeconds: config.retryPeriodSeconds,
      }, log)
    : undefined;
  const isLeader = (): boolean => elector?.isLeader() ?? true;
  metrics.setSources({
    phases: () => controller.listJobs().map((j) => (j as { status?: { phase?: string } }).status?.phase ?? 'Pending'),
    queueDepth: () => controller.queue.depth(),
    isLeader,
  });
  const tls = config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined
    ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile } : undefined;
  const server = buildServer({
    view: controller,
    metrics,
    events: kubeEventLister(kc),
    auth: config.auth === 'none' ? undefined : new KubeAuthenticator(kc, config.tokenAudience),
    logger: log,
    ...(tls !== undefined && { https: readTls(tls) }),
  });
  const stopReloading = tls === undefined ? () => {} : reloadOnChange(server.server as HttpsServer, tls, log);
  const [host, port] = [config.listen.slice(0, config.listen.lastIndexOf(':')), config.listen.split(':').pop()];
  await server.listen({ host: host === '' ? '0.0.0.0' : host, port: Number(port) });
  await controller.startWatching();

  const abort = new AbortController();
  let electing: Promise<void> = Promise.resolve();
  let lost: () => void = () => {};
  const lostLeadership = new Promise<void>((resolve) => {
    lost = resolve;
  });
  if (elector === undefined) {
    controller.startWorkers();
  } else {
    electing = elector.run({
      onStartedLeading: () => controller.startWorkers(),
      // Stop taking work at once: by lease duration another replica may lead (renewDeadline < leaseDuration).
      onStoppedLeading: () => {
        controller.queue.shutdown();
        lost();
      },
    }, abort.signal);
  }
  return {
    controller, elector, server, lostLeadership, isLeader,
    stop: async () => {
      // Stop acting first, then give the lease up so a successor starts at once.
      await controller.stop();
      abort.abort();
      await electing;
      stopReloading();
      await server.close();
    },
  };
}
