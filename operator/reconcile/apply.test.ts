import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1NetworkPolicy, V1Pod, V1Service } from '@kubernetes/client-node';
import type { SimCLRJob, SimCLRJobStatus } from '../api/schema.js';
import { applyPlan, type JobClient } from './apply.js';
import { reconcilePlan } from './plan.js';
import { makeJob, observe } from './testing.js';
import type { DesiredPodGroup } from './pod-group.js';
import type { JobEvent } from './types.js';

class RecordingClient implements JobClient {
  calls: string[] = [];
  failStatus?: Error;
  exists = new Set<string>();
  async createPod(_ns: string, pod: V1Pod): Promise<boolean> {
    this.calls.push(`createPod ${pod.metadata?.name}`);
    return !this.exists.has(pod.metadata?.name ?? '');
  }
  async deletePod(_ns: string, name: string): Promise<boolean> { this.calls.push(`deletePod ${name}`); return true; }
  async createService(_ns: string, s: V1Service): Promise<void> { this.calls.push(`createService ${s.metadata?.name}`); }
  async deleteService(_ns: string, name: string): Promise<void> { this.calls.push(`deleteService ${name}`); }
  async createNetworkPolicy(_ns: string, p: V1NetworkPolicy): Promise<void> {
    this.calls.push(`createNetworkPolicy ${p.metadata?.name}`);
  }
  async createPodGroup(_ns: string, g: DesiredPodGroup): Promise<void> {
    this.calls.push(`createPodGroup ${g.group} ${(g.body.metadata as { name: string }).name}`);
  }
  async updateStatus(_j: SimCLRJob, s: SimCLRJobStatus): Promise<void> {
    if (this.failStatus) throw this.failStatus;
    this.calls.push(`status ${s.phase}`);
  }
  async deleteJob(j: SimCLRJob): Promise<void> { this.calls.push(`deleteJob ${j.metadata.name}`); }
  async emitEvent(_j: SimCLRJob, e: JobEvent): Promise<void> { this.calls.push(`event ${e.reason}`); }
}

test('creates, then writes status once, then emits events', async () => {
  const job = makeJob();
  const c = new RecordingClient();
  const r = await applyPlan(job, reconcilePlan(observe(job, [], undefined, false)), c);
  // The NetworkPolicy before any pod: no rank is reachable by more than its gang and the operator.
  assert.deepEqual(c.calls, ['createService pre', 'createNetworkPolicy pre', 'createPod pre-0', 'createPod pre-1',
    'status Pending', 'event PodsCreated']);
  assert.deepEqual(r, { statusWritten: true, created: 2, deleted: 0 });
});

test('no status write when nothing changed', async () => {
  const job = makeJob();
  const plan = reconcilePlan(observe(job, []));
  const settled = makeJob({}, JSON.parse(JSON.stringify(plan.status)) as SimCLRJobStatus);
  const c = new RecordingClient();
  const r = await applyPlan(settled, { ...plan, createPods: [], events: [] }, c);
  assert.equal(r.statusWritten, false);
  assert.deepEqual(c.calls, []);
});

test('a failed status write emits no events and rethrows (the queue retries)', async () => {
  const job = makeJob();
  const c = new RecordingClient();
  c.failStatus = Object.assign(new Error('conflict'), { code: 409 });
  await assert.rejects(applyPlan(job, reconcilePlan(observe(job, [], undefined, false)), c), /conflict/);
  assert.ok(!c.calls.some((x) => x.startsWith('event')));
});

test('an event that cannot be recorded does not fail the reconcile', async () => {
  const job = makeJob();
  const c = new RecordingClient();
  c.emitEvent = async () => { throw new Error('events forbidden'); };
  const errors: unknown[] = [];
  await applyPlan(job, reconcilePlan(observe(job, [], undefined, false)), c, (e) => errors.push(e));
  assert.equal(errors.length, 1);
});

test('a pass that changed nothing (stale cache: pods already exist, status unchanged) records no events', async () => {
  const job = makeJob();
  const plan = reconcilePlan(observe(job, []));
  const settled = makeJob({}, JSON.parse(JSON.stringify(plan.status)) as SimCLRJobStatus);
  const c = new RecordingClient();
  c.exists = new Set(['pre-0', 'pre-1']);
  const r = await applyPlan(settled, plan, c);
  assert.deepEqual(r, { statusWritten: false, created: 0, deleted: 0 });
  assert.ok(!c.calls.some((x) => x.startsWith('event')));
});

test('the pod group is created after the NetworkPolicy and before any pod', async () => {
  const job = makeJob({ scheduling: { podGroup: { kind: 'Volcano' } } });
  const c = new RecordingClient();
  await applyPlan(job, reconcilePlan(observe(job, [], undefined, false)), c);
  assert.deepEqual(c.calls.slice(0, 4), ['createService pre', 'createNetworkPolicy pre', 'createPodGroup scheduling.volcano.sh pre',
    'createPod pre-0']);
});
