// Invalid spec: a job the trainer would refuse fails at once, before any pod exists; retrying cannot fix a spec.
// It ends as any failure does (phase Failed, a Failed condition, a Warning event), with reason InvalidSpec and the
// trainer's own one-line reason as the message.
import type { SimCLRJobStatus } from '../../api/schema.js';
import { conditionTrue, setCondition } from '../status.js';
import { emptyPlan, type Plan } from '../types.js';

export const INVALID_SPEC = 'InvalidSpec';

export function invalidSpecPlan(status: SimCLRJobStatus, problem: string, now: Date): Plan {
  let s: SimCLRJobStatus = { ...status, phase: 'Failed', completionTime: now.toISOString() };
  for (const type of ['Running', 'Restarting', 'Suspended'] as const) {
    if (conditionTrue(s, type)) s = setCondition(s, { type, status: 'False', reason: INVALID_SPEC, message: problem }, now);
  }
  s = setCondition(s, { type: 'Failed', status: 'True', reason: INVALID_SPEC, message: problem }, now);
  const plan = emptyPlan(s);
  plan.events.push({ type: 'Warning', reason: INVALID_SPEC, message: problem });
  return plan;
}
