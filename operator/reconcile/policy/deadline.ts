// activeDeadlineSeconds: fail the job once it has run (since start or resume) for that long.
import type { SimCLRJobStatus } from '../../api/schema.js';
import { setCondition } from '../status.js';
import { emptyPlan, type Observed, type Plan } from '../types.js';

/** Milliseconds left before the deadline, or undefined when there is none (no deadline or not started). */
export function deadlineRemainingMs(o: Observed, status: SimCLRJobStatus): number | undefined {
  const limit = o.job.spec.runPolicy.activeDeadlineSeconds;
  if (limit === undefined || status.startTime === undefined) return undefined;
  return Date.parse(status.startTime) + limit * 1000 - o.now.getTime();
}

export function deadlinePolicy(o: Observed, status: SimCLRJobStatus): Plan | undefined {
  const left = deadlineRemainingMs(o, status);
  if (left === undefined || left > 0) return undefined;
  const limit = o.job.spec.runPolicy.activeDeadlineSeconds;
  const message = `job ran longer than activeDeadlineSeconds (${limit} s)`;
  let s: SimCLRJobStatus = { ...status, phase: 'Failed', completionTime: o.now.toISOString() };
  s = setCondition(s, { type: 'Running', status: 'False', reason: 'DeadlineExceeded', message }, o.now);
  s = setCondition(s, { type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message }, o.now);
  const plan = emptyPlan(s);
  plan.events.push({ type: 'Warning', reason: 'DeadlineExceeded', message });
  return plan;
}
