// Suspend policy: suspend deletes every pod and keeps the job (and its Service); resume lets the normal path
// recreate the gang. As with batch/v1 Jobs, startTime is cleared while suspended so the deadline counts only
// running time.
import type { SimCLRJobStatus } from '../../api/schema.js';
import { conditionTrue, isTerminating, setCondition } from '../status.js';
import { emptyPlan, type Observed, type Plan } from '../types.js';

export function suspendPolicy(o: Observed, status: SimCLRJobStatus): Plan | undefined {
  if (!o.job.spec.runPolicy.suspend) return undefined;
  const message = 'spec.runPolicy.suspend is true: pods deleted, job kept';
  const wasSuspended = conditionTrue(status, 'Suspended');
  let s: SimCLRJobStatus = { ...status, phase: 'Suspended', replicas: undefined };
  delete s.startTime;
  s = setCondition(s, { type: 'Suspended', status: 'True', reason: 'JobSuspended', message }, o.now);
  s = setCondition(s, { type: 'Running', status: 'False', reason: 'JobSuspended', message }, o.now);
  // No gang exists while suspended; resume creates one and sets Created again.
  if (conditionTrue(s, 'Created')) s = setCondition(s, { type: 'Created', status: 'False', reason: 'JobSuspended', message }, o.now);
  const plan = emptyPlan(s);
  plan.deletePods = o.pods.filter((p) => !isTerminating(p)).map((p) => p.metadata?.name ?? '');
  if (!wasSuspended) plan.events.push({ type: 'Normal', reason: 'Suspended', message });
  return plan;
}

/** On the first reconcile after resume: flips the Suspended condition and says so. */
export function resumed(o: Observed, status: SimCLRJobStatus): { status: SimCLRJobStatus; resumed: boolean } {
  if (!conditionTrue(status, 'Suspended')) return { status, resumed: false };
  const message = 'spec.runPolicy.suspend is false: recreating the gang';
  return {
    status: setCondition(status, { type: 'Suspended', status: 'False', reason: 'JobResumed', message }, o.now),
    resumed: true,
  };
}
