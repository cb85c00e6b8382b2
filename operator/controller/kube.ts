// The JobClient of the apply layer, on @kubernetes/client-node v1 (object-parameter API).
import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
  type CoreV1Event,
  type V1NetworkPolicy,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { GROUP, KIND, API_VERSION, PLURAL, POD_GROUPS, VERSION, type SimCLRJob, type SimCLRJobStatus } from '../api/schema.js';
import { PodRefusedError, type JobClient } from '../reconcile/apply.js';
import type { JobEvent } from '../reconcile/types.js';
import type { DesiredPodGroup } from '../reconcile/pod-group.js';
import { apiMessage, ignoreAlreadyExists, ignoreNotFound, isNotFound, isRefusedObject } from './kube-errors.js';

export const COMPONENT = 'simclr-operator';

export class KubeJobClient implements JobClient {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly networking: NetworkingV1Api;

  constructor(kc: KubeConfig, private readonly identity: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.networking = kc.makeApiClient(NetworkingV1Api);
  }

  async createPod(namespace: string, pod: V1Pod): Promise<boolean> {
    try {
      return await ignoreAlreadyExists(this.core.createNamespacedPod({ namespace, body: pod }));
    } catch (err) {
      if (!isRefusedObject(err)) throw err;
      throw new PodRefusedError(`the apiserver refuses pod ${pod.metadata?.name}: ${apiMessage(err)}`, { cause: err });
    }
  }

  deletePod(namespace: string, name: string): Promise<boolean> {
    return ignoreNotFound(this.core.deleteNamespacedPod({ namespace, name }));
  }

  async createService(namespace: string, service: V1Service): Promise<void> {
    await ignoreAlreadyExists(this.core.createNamespacedService({ namespace, body: service }));
  }

  async createNetworkPolicy(namespace: string, policy: V1NetworkPolicy): Promise<void> {
    await ignoreAlreadyExists(this.networking.createNamespacedNetworkPolicy({ namespace, body: policy }));
  }

  async createPodGroup(namespace: string, podGroup: DesiredPodGroup): Promise<void> {
    const { group, version, body } = podGroup;
    try {
      await ignoreAlreadyExists(this.custom.createNamespacedCustomObject({ group, version, namespace, plural: POD_GROUPS, body }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new Error(`this cluster does not serve ${POD_GROUPS}.${group}/${version}: install the ${podGroup.kind} ` +
        'scheduler\'s CRDs, or remove spec.scheduling.podGroup', { cause: err });
    }
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.core.deleteNamespacedService({ namespace, name }));
  }

  async updateStatus(job: SimCLRJob, status: SimCLRJobStatus): Promise<void> {
    const { name, namespace, resourceVersion } = job.metadata;
    // Replace with the resourceVersion we read: a concurrent writer makes this a 409 for the queue to retry.
    const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, resourceVersion }, status };
    await this.custom.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body });
  }

  async deleteJob(job: SimCLRJob): Promise<void> {
    const { name, namespace, uid } = job.metadata;
    await ignoreNotFound(
      this.custom.deleteNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace, plural: PLURAL, name,
        propagationPolicy: 'Background',
        body: { preconditions: { uid } },
      }),
    );
  }

  async emitEvent(job: SimCLRJob, event: JobEvent): Promise<void> {
    const now = new Date();
    const { name, namespace, uid } = job.metadata;
    const body: CoreV1Event = {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid },
      type: event.type,
      reason: event.reason,
      message: event.message,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.identity,
    };
    await this.core.createNamespacedEvent({ namespace, body });
  }
}
