// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: acquire when the lease
// is free or expired, renew every retry period, give up leadership when a renew has not succeeded within the
// renew deadline. Expiry is judged by the local clock from when we last saw the lease change (no cross-node
// clock comparison). Writes carry the resourceVersion read, so two candidates can never both win one round.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isAlreadyExists, isNotFound } from './kube-errors.js';

export interface LeaseApi {
  read(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(namespace: string, lease: V1Lease): Promise<void>;
  replace(namespace: string, name: string, lease: V1Lease): Promise<void>;
}

export function kubeLeaseApi(kc: KubeConfig): LeaseApi {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    read: async (namespace, name) => {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: async (namespace, body) => {
      await api.createNamespacedLease({ namespace, body });
    },
    replace: async (namespace, name, body) => {
      await api.replaceNamespacedLease({ namespace, name, body });
    },
  };
}

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export class LeaderElector {
  private leader = false;
  private observedRecord = '';
  private observedAt = 0;

  constructor(
    private readonly api: LeaseApi,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  isLeader(): boolean {
    return this.leader;
  }

  /** Campaigns until leader, then renews until leadership is lost or `signal` aborts (then releases the lease). */
  async run(cb: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    const retryMs = this.opts.retryPeriodSeconds * 1000;
    while (!signal.aborted && !(await this.tryAcquireOrRenew())) await sleep(retryMs, signal);
    if (signal.aborted) return;
    this.leader = true;
    this.log.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
    cb.onStartedLeading();
    let lastRenew = this.now();
    while (!signal.aborted) {
      await sleep(retryMs, signal);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = this.now();
      } else if (this.now() - lastRenew > this.opts.renewDeadlineSeconds * 1000) {
        break;
      }
    }
    this.leader = false;
    if (signal.aborted) await this.release();
    this.log.warn({ lease: this.opts.name, identity: this.opts.identity }, 'stopped leading');
    cb.onStoppedLeading();
  }

  /** One round: true when we hold the lease afterwards. Errors count as "not this round". */
  async tryAcquireOrRenew(): Promise<boolean> {
    try {
      return await this.round();
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) this.log.warn({ err }, 'lease round failed');
      return false;
    }
  }

  private async round(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.opts;
    const now = new V1MicroTime(this.now());
    const existing = await this.api.read(namespace, name);
    if (existing === undefined) {
      await this.api.create(namespace, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      });
      return true;
    }
    const spec = existing.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseTransitions]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.now();
    }
    const holder = spec.holderIdentity ?? '';
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && this.observedAt + duration > this.now()) return false;
    const taking = holder !== identity;
    await this.api.replace(namespace, name, {
      ...existing,
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: taking ? now : spec.acquireTime && new V1MicroTime(spec.acquireTime),
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (taking ? 1 : 0),
      },
    });
    return true;
  }

  /** Gives the lease up so a successor need not wait for it to expire. */
  private async release(): Promise<void> {
    try {
      const existing = await this.api.read(this.opts.namespace, this.opts.name);
      if (existing?.spec?.holderIdentity !== this.opts.identity) return;
      await this.api.replace(this.opts.namespace, this.opts.name, {
        ...existing,
        spec: { ...existing.spec, holderIdentity: '', leaseDurationSeconds: 1,
          renewTime: new V1MicroTime(this.now()), acquireTime: undefined },
      });
    } catch (err) {
      this.log.warn({ err }, 'lease release failed');
    }
  }
}
