import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { EXIT_CONFIG_OR_DATA, EXIT_PEER_LOST, EXIT_STOPPED } from '../../../trainer/contract/index.js';
import type { FailureRule } from '../../api/schema.js';
import { makeJob, podIn } from '../testing.js';
import { decisive, matches, verdictOf } from './failure-rules.js';

const job = makeJob();

/** A failed pod of rank `rank`: its trainer's exit code (none: it never ended), its reasons and conditions. */
function failed(rank: number, o: { exit?: number; podReason?: string; containerReason?: string;
  conditions?: Array<{ type: string; status: string }> } = {}): V1Pod {
  const pod = podIn(job, rank, 'Failed');
  pod.status!.reason = o.podReason;
  pod.status!.conditions = o.conditions;
  pod.status!.containerStatuses = o.exit === undefined ? [] : [{ name: 'trainer', image: 'x', imageID: '', ready: false,
    restartCount: 0, state: { terminated: { exitCode: o.exit, reason: o.containerReason ?? 'Error' } } }];
  return pod;
}

test('defaults: exit 2 fails the job, a lost peer (75) and a kill (137) restart counted, 143 and evictions do not count', () => {
  const action = (p: V1Pod): string => `${verdictOf([], p).action}/${verdictOf([], p).reason}`;
  assert.equal(action(failed(0, { exit: EXIT_CONFIG_OR_DATA })), 'FailJob/ConfigOrDataError');
  assert.equal(action(failed(0, { exit: EXIT_PEER_LOST })), 'RestartJob/PodFailed');
  assert.equal(action(failed(0, { exit: 137, containerReason: 'OOMKilled' })), 'RestartJob/PodFailed');
  assert.equal(action(failed(0, { exit: 1 })), 'RestartJob/PodFailed');
  assert.equal(action(failed(0, { exit: EXIT_STOPPED })), 'Ignore/PlannedStop');
  assert.equal(action(failed(0, { podReason: 'Evicted' })), 'Ignore/PodDisrupted');
  assert.equal(action(failed(0, { exit: 137, conditions: [{ type: 'DisruptionTarget', status: 'True' }] })),
    'Ignore/PodDisrupted');
  assert.equal(action(failed(0, { exit: 137, conditions: [{ type: 'DisruptionTarget', status: 'False' }] })),
    'RestartJob/PodFailed');
});

test('a rule of the job\'s overrides the defaults; the first that matches decides', () => {
  const rules: FailureRule[] = [
    { name: 'retry-data', action: 'RestartJob', onExitCodes: { operator: 'In', values: [2] } },
    { action: 'FailJob', onExitCodes: { operator: 'In', values: [2, 137] } },
  ];
  const data = verdictOf(rules, failed(0, { exit: 2 }));
  assert.deepEqual(data, { action: 'RestartJob', reason: 'PodFailed',
    why: 'spec.runPolicy.failurePolicy.rules[0] (retry-data) says RestartJob' });
  const killed = verdictOf(rules, failed(0, { exit: 137 }));
  assert.deepEqual(killed, { action: 'FailJob', reason: 'PodFailurePolicy',
    why: 'not retried: spec.runPolicy.failurePolicy.rules[1] says FailJob' });
  // No rule matches 143: the default (a planned stop) applies.
  assert.equal(verdictOf(rules, failed(0, { exit: 143 })).reason, 'PlannedStop');
});

test('NotIn matches any other exit code, never a trainer that did not end', () => {
  const rule: FailureRule = { action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [EXIT_PEER_LOST, EXIT_STOPPED] } };
  assert.equal(matches(rule, failed(0, { exit: 137 })), true);
  assert.equal(matches(rule, failed(0, { exit: EXIT_PEER_LOST })), false);
  assert.equal(matches(rule, failed(0, { podReason: 'Evicted' })), false, 'no exit code: neither In nor NotIn');
  assert.equal(matches({ action: 'FailJob', onExitCodes: { operator: 'In', values: [1] } }, failed(0)), false);
});

test('reasons match the pod\'s or the trainer container\'s; conditions by type and status; every matcher given must hold', () => {
  const oom: FailureRule = { action: 'Ignore', onReasons: ['OOMKilled'] };
  assert.equal(matches(oom, failed(0, { exit: 137, containerReason: 'OOMKilled' })), true);
  assert.equal(matches(oom, failed(0, { exit: 137 })), false);
  assert.equal(matches({ action: 'Ignore', onReasons: ['Evicted'] }, failed(0, { podReason: 'Evicted' })), true);
  const both: FailureRule = { action: 'FailJob', onExitCodes: { operator: 'In', values: [137] }, onReasons: ['OOMKilled'] };
  assert.equal(matches(both, failed(0, { exit: 137, containerReason: 'OOMKilled' })), true);
  assert.equal(matches(both, failed(0, { exit: 1, containerReason: 'OOMKilled' })), false);
  assert.equal(matches(both, failed(0, { exit: 137, containerReason: 'Error' })), false);
  const cond: FailureRule = { action: 'FailJob', onPodConditions: [{ type: 'ConfigBroken', status: 'True' },
    { type: 'DisruptionTarget', status: 'False' }] };
  assert.equal(matches(cond, failed(0, { conditions: [{ type: 'DisruptionTarget', status: 'False' }] })), true, 'any of them');
  assert.equal(matches(cond, failed(0, { conditions: [{ type: 'DisruptionTarget', status: 'True' }] })), false);
  assert.equal(matches(cond, failed(0)), false);
});

test('across the gang FailJob wins over RestartJob over Ignore; among equals a rank\'s own failure over a lost peer, then the lowest rank', () => {
  const name = (...pods: V1Pod[]): string | undefined => decisive([], pods)?.pod.metadata?.name;
  assert.equal(name(failed(0, { exit: EXIT_PEER_LOST }), failed(1, { exit: 2 })), 'pre-1');
  assert.equal(name(failed(0, { exit: EXIT_STOPPED }), failed(1, { exit: EXIT_PEER_LOST })), 'pre-1');
  assert.equal(name(failed(0, { exit: 2 }), failed(1, { exit: 2 })), 'pre-0');
  assert.equal(name(failed(0, { exit: 1 }), failed(1, { exit: EXIT_PEER_LOST })), 'pre-0');
  // The killed rank, not the peer that lost it, explains the restart.
  assert.equal(name(failed(0, { exit: EXIT_PEER_LOST }), failed(1, { exit: 137 })), 'pre-1');
  assert.equal(name(failed(0, { exit: EXIT_PEER_LOST }), failed(1, { exit: EXIT_PEER_LOST })), 'pre-0');
  assert.equal(decisive([], [failed(0, { exit: EXIT_STOPPED })])?.verdict.action, 'Ignore');
  assert.equal(decisive([], []), undefined);
});
