// Watches with a local cache (client-node's ListWatch): the initial list, then a watch from its resourceVersion.
// client-node relists by itself when the watch ends with 410 Gone; on any other error it stops, so we restart it
// here with backoff (a fresh list), the way client-go's reflector does.
import {
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  NetworkingV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ListPromise,
  type V1NetworkPolicy,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION } from '../api/schema.js';
import { LABEL_JOB_NAME } from '../reconcile/names.js';

export interface Cache<T extends KubernetesObject> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
}

export interface WatchHandlers<T> {
  onChange(obj: T): void;
}

export interface RunningInformer<T extends KubernetesObject> extends Cache<T> {
  stop(): Promise<void>;
}

/** Starts an informer and resolves after its initial list; keeps it alive across errors until stop(). */
export async function startInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  listFn: ListPromise<T>,
  handlers: WatchHandlers<T>,
  log: Logger,
  labelSelector?: string,
): Promise<RunningInformer<T>> {
  const informer: Informer<T> & Cache<T> = makeInformer(kc, path, listFn, labelSelector) as Informer<T> & Cache<T>;
  let stopped = false;
  let failures = 0;
  informer.on('add', (o) => handlers.onChange(o));
  informer.on('update', (o) => handlers.onChange(o));
  informer.on('delete', (o) => handlers.onChange(o));
  informer.on('connect', () => {
    failures = 0;
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    const delay = Math.min(200 * 2 ** failures++, 30_000);
    log.warn({ err, path, delayMs: delay }, 'watch failed; relisting after backoff');
    setTimeout(() => {
      if (!stopped) informer.start().catch((e: unknown) => log.error({ err: e, path }, 'relist failed'));
    }, delay).unref();
  });
  await informer.start();
  return {
    list: (ns?: string) => informer.list(ns),
    get: (name: string, ns?: string) => informer.get(name, ns),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}

export function jobsPath(namespace: string | undefined): string {
  return namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
}

export function jobLister(kc: KubeConfig, namespace: string | undefined): ListPromise<KubernetesObject> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return async () =>
    (namespace
      ? await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
      : await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as KubernetesListObject<KubernetesObject>;
}

/** Only objects carrying the job-name label are watched: the operator's own. */
export const OWNED_SELECTOR = LABEL_JOB_NAME;

export function podLister(kc: KubeConfig, namespace: string | undefined): ListPromise<V1Pod> {
  const api = kc.makeApiClient(CoreV1Api);
  const labelSelector = OWNED_SELECTOR;
  return async () =>
    namespace
      ? await api.listNamespacedPod({ namespace, labelSelector })
      : await api.listPodForAllNamespaces({ labelSelector });
}

export function serviceLister(kc: KubeConfig, namespace: string | undefined): ListPromise<V1Service> {
  const api = kc.makeApiClient(CoreV1Api);
  const labelSelector = OWNED_SELECTOR;
  return async () =>
    namespace
      ? await api.listNamespacedService({ namespace, labelSelector })
      : await api.listServiceForAllNamespaces({ labelSelector });
}

export const podsPath = (ns: string | undefined): string => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods');
export const servicesPath = (ns: string | undefined): string =>
  ns ? `/api/v1/namespaces/${ns}/services` : '/api/v1/services';

export function networkPolicyLister(kc: KubeConfig, namespace: string | undefined): ListPromise<V1NetworkPolicy> {
  const api = kc.makeApiClient(NetworkingV1Api);
  const labelSelector = OWNED_SELECTOR;
  return async () =>
    namespace
      ? await api.listNamespacedNetworkPolicy({ namespace, labelSelector })
      : await api.listNetworkPolicyForAllNamespaces({ labelSelector });
}

export const networkPoliciesPath = (ns: string | undefined): string =>
  ns ? `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies` : '/apis/networking.k8s.io/v1/networkpolicies';
