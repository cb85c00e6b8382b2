// One reconcile as a pure function: Observed (job, its pods, its Service, progress, clock) -> Plan.
// Order of precedence: finished (cleanPodPolicy, TTL) > invalid spec > suspend > deadline > success > failure > run the gang.
// Decisions that change the phase or the restart generation are written to status first and acted on by the next
// reconcile, which the status write itself triggers; so a crash between deciding and acting loses nothing.
import type { V1Pod } from '@kubernetes/client-node';
import type { SimCLRJobStatus } from '../api/schema.js';
import { desiredNetworkPolicy, desiredPod } from './desired.js';
import { desiredPodGroup } from './pod-group.js';
import { cleanService, podsToClean } from './policy/clean-pods.js';
import { reportCorruptCheckpoints } from './policy/corrupt-checkpoints.js';
import { deadlinePolicy, deadlineRemainingMs } from './policy/deadline.js';
import { backoffRemainingMs, failurePolicy } from './policy/failure.js';
import { invalidSpecPlan } from './policy/invalid-spec.js';
import { successPolicy } from './policy/success.js';
import { resumed, suspendPolicy } from './policy/suspend.js';
import { ttlPolicy } from './policy/ttl.js';
import { conditionTrue, countReplicas, currentGeneration, gangPods, isTerminating, setCondition } from './status.js';
import { emptyPlan, soonest, type Observed, type Plan } from './types.js';
import { specProblem } from './validate.js';
import { volumeKindProblem } from './volume-kinds.js';

export const isFinished = (s: SimCLRJobStatus | undefined): boolean =>
  s?.phase === 'Succeeded' || s?.phase === 'Failed';

export function reconcilePlan(o: Observed): Plan {
  const { job } = o;
  if (job.metadata.deletionTimestamp != null) return emptyPlan(job.status ?? {});
  let status: SimCLRJobStatus = { ...job.status, observedGeneration: job.metadata.generation };
  if (isFinished(status)) return finished(o, status);
  const problem = volumeKindProblem(job, o.extraVolumeKinds ?? []) ?? specProblem(job);
  if (problem !== undefined) return invalidSpecPlan(status, problem, o.now);
  const gen = currentGeneration(status);
  const gang = gangPods(o.pods, gen, job.spec.replicas, job.metadata.uid);
  status = { ...status, restartCount: gen, replicas: countReplicas(gang) };
  const suspended = suspendPolicy(o, status);
  if (suspended !== undefined) return suspended;
  const r = resumed(o, status);
  const decided = deadlinePolicy(o, r.status) ?? successPolicy(o, r.status, gang) ?? failurePolicy(o, r.status, gang);
  if (decided !== undefined) return reportCorruptCheckpoints(o, decided);
  const plan = run(o, r.status, gang);
  if (r.resumed) plan.events.unshift({ type: 'Normal', reason: 'Resumed', message: 'recreating the gang' });
  return reportCorruptCheckpoints(o, plan);
}

function finished(o: Observed, status: SimCLRJobStatus): Plan {
  const policy = o.job.spec.runPolicy.cleanPodPolicy;
  const plan = emptyPlan(status);
  plan.deletePods = podsToClean(policy, o.pods);
  plan.deleteService = cleanService(policy) && o.serviceExists;
  const ttl = ttlPolicy(o, status);
  if (ttl.delete) plan.deleteJob = true;
  else plan.requeueAfterMs = ttl.afterMs;
  return plan;
}

/** Not finished, not suspended, nothing failed: make the gang of the current generation exist. */
function run(o: Observed, status: SimCLRJobStatus, gang: Map<number, V1Pod>): Plan {
  const { job } = o;
  const gen = currentGeneration(status);
  const gangNames = new Set([...gang.values()].map((p) => p.metadata?.name));
  const plan = emptyPlan(status);
  plan.createService = !o.serviceExists;
  if (!o.networkPolicyExists) plan.createNetworkPolicy = desiredNetworkPolicy(job, o.operatorPeer);
  // Everything labelled for this job that is not in the current gang is stale: an old generation, a rank beyond
  // replicas, another incarnation of the job.
  const stale = o.pods.filter((p) => !gangNames.has(p.metadata?.name));
  plan.deletePods = stale.filter((p) => !isTerminating(p)).map((p) => p.metadata?.name ?? '');
  const wait = backoffRemainingMs(o, status);
  if (wait > 0) {
    plan.requeueAfterMs = wait;
  } else if (stale.length === 0) {
    // A new gang starts only when the old one is entirely gone (the delete events bring the next reconcile): a new
    // rank would otherwise find the old rank 0's rendezvous store (same Service name and port) still up while it
    // stops, and join a gang that is ending.
    for (let rank = 0; rank < job.spec.replicas; rank++) {
      if (!gang.has(rank)) plan.createPods.push(desiredPod(job, rank, gen));
    }
  }
  // With every pod creation, not once: a level-based operator does not remember that it made the group before.
  if (plan.createPods.length > 0) plan.createPodGroup = desiredPodGroup(job);
  plan.status = runStatus(o, status, gang.size + plan.createPods.length === job.spec.replicas);
  plan.requeueAfterMs = soonest(plan.requeueAfterMs, deadlineRemainingMs(o, plan.status));
  if (plan.createPods.length > 0) {
    plan.events.push({
      type: 'Normal',
      reason: 'PodsCreated',
      message: `creating ${plan.createPods.length} of ${job.spec.replicas} pods (restart generation ${gen})`,
    });
  }
  if (plan.deletePods.length > 0) {
    plan.events.push({ type: 'Normal', reason: 'StalePodsDeleted', message: `deleting ${plan.deletePods.join(', ')}` });
  }
  return plan;
}

function runStatus(o: Observed, status: SimCLRJobStatus, allCreated: boolean): SimCLRJobStatus {
  const { job, now } = o;
  const replicas = job.spec.replicas;
  let s: SimCLRJobStatus = { ...status };
  if (s.startTime === undefined) s.startTime = now.toISOString();
  if (o.progress !== undefined) s.progress = o.progress;
  const gen = currentGeneration(s);
  if (allCreated) {
    const message = `Service and ${replicas} pods of restart generation ${gen} exist`;
    s = setCondition(s, { type: 'Created', status: 'True', reason: 'GangCreated', message }, now);
  }
  if ((s.replicas?.running ?? 0) === replicas) {
    s.phase = 'Running';
    const message = `all ${replicas} ranks are running (restart generation ${gen})`;
    s = setCondition(s, { type: 'Running', status: 'True', reason: 'GangRunning', message }, now);
    if (conditionTrue(s, 'Restarting')) {
      s = setCondition(s, { type: 'Restarting', status: 'False', reason: 'GangRunning', message }, now);
    }
  } else if (s.phase === 'Running' && (s.replicas?.running ?? 0) + (s.replicas?.succeeded ?? 0) === replicas) {
    // Ranks finishing before rank 0 (the normal end of a run): still Running until rank 0 succeeds, no Pending flash.
  } else if (s.phase !== 'Restarting') {
    s.phase = 'Pending';
  }
  return s;
}
