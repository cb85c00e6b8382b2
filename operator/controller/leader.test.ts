import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector, type LeaseApi } from './leader.js';

/** An in-memory Lease store with the apiserver's optimistic concurrency. */
function fakeLeases(): LeaseApi & { lease?: V1Lease } {
  let rv = 0;
  const conflict = (): ApiException<string> =>
    new ApiException(409, 'conflict', JSON.stringify({ code: 409, reason: 'Conflict' }), {});
  const store: LeaseApi & { lease?: V1Lease } = {
    read: async () => (store.lease === undefined ? undefined : structuredClone(store.lease)),
    create: async (_ns, lease) => {
      if (store.lease !== undefined) throw new ApiException(409, 'x', JSON.stringify({ code: 409, reason: 'AlreadyExists' }), {});
      store.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++rv) } };
    },
    replace: async (_ns, _name, lease) => {
      if (lease.metadata?.resourceVersion !== store.lease?.metadata?.resourceVersion) throw conflict();
      store.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++rv) } };
    },
  };
  return store;
}

const opts = (identity: string): ConstructorParameters<typeof LeaderElector>[1] => ({
  namespace: 'sys', name: 'simclr-operator', identity, leaseDurationSeconds: 15, renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
});
const log = pino({ level: 'silent' });

test('first candidate acquires, second is refused while the lease is fresh', async () => {
  const store = fakeLeases();
  let t = 0;
  const a = new LeaderElector(store, opts('a'), log, () => t);
  const b = new LeaderElector(store, opts('b'), log, () => t);
  assert.equal(await a.tryAcquireOrRenew(), true);
  assert.equal(await b.tryAcquireOrRenew(), false);
  t = 5_000;
  assert.equal(await a.tryAcquireOrRenew(), true); // renew
  assert.equal(await b.tryAcquireOrRenew(), false);
  assert.equal(store.lease?.spec?.holderIdentity, 'a');
});

test('a dead leader is replaced once the lease duration passes without renewal', async () => {
  const store = fakeLeases();
  let t = 0;
  const a = new LeaderElector(store, opts('a'), log, () => t);
  const b = new LeaderElector(store, opts('b'), log, () => t);
  await a.tryAcquireOrRenew();
  assert.equal(await b.tryAcquireOrRenew(), false); // b observes the record at t=0
  t = 14_000;
  assert.equal(await b.tryAcquireOrRenew(), false);
  t = 15_001;
  assert.equal(await b.tryAcquireOrRenew(), true);
  assert.equal(store.lease?.spec?.holderIdentity, 'b');
  assert.equal(store.lease?.spec?.leaseTransitions, 1);
  assert.equal(await a.tryAcquireOrRenew(), false); // the old leader now sees b's fresh record
});

test('two candidates racing on the same stale read: only one write wins', async () => {
  const store = fakeLeases();
  const a = new LeaderElector(store, opts('a'), log);
  const b = new LeaderElector(store, opts('b'), log);
  const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
  assert.deepEqual(results.filter(Boolean).length, 1);
});

test('run(): leads, and releases the lease on abort so a successor takes over at once', async () => {
  const store = fakeLeases();
  const ac = new AbortController();
  const events: string[] = [];
  const a = new LeaderElector(store, { ...opts('a'), retryPeriodSeconds: 0.01 }, log);
  const done = a.run({ onStartedLeading: () => events.push('start'), onStoppedLeading: () => events.push('stop') },
    ac.signal);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(a.isLeader(), true);
  ac.abort();
  await done;
  assert.deepEqual(events, ['start', 'stop']);
  assert.equal(store.lease?.spec?.holderIdentity, '');
  const b = new LeaderElector(store, opts('b'), log);
  assert.equal(await b.tryAcquireOrRenew(), true);
});
