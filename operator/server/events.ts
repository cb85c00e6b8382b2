// Recent Kubernetes events of one job, for the job detail route.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { KIND } from '../api/schema.js';

export interface EventSummary {
  type: string;
  reason: string;
  message: string;
  count: number;
  lastTimestamp: string;
}

export interface EventLister {
  list(namespace: string, name: string, limit: number): Promise<EventSummary[]>;
}

const iso = (t: Date | string | undefined): string =>
  t === undefined ? '' : typeof t === 'string' ? t : new Date(t).toISOString();

export function kubeEventLister(kc: KubeConfig): EventLister {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    list: async (namespace, name, limit) => {
      const res = await api.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}`,
      });
      return res.items
        .map((e) => ({
          type: e.type ?? '',
          reason: e.reason ?? '',
          message: e.message ?? '',
          count: e.count ?? 1,
          lastTimestamp: iso(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp),
        }))
        .sort((a, b) => b.lastTimestamp.localeCompare(a.lastTimestamp))
        .slice(0, limit);
    },
  };
}
