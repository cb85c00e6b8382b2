// Success policy: rank 0 Succeeded means the run is done (rank 0 writes the final checkpoint and the export);
// other ranks may still be exiting. The final progress is rank 0's termination message (the document it ended with):
// the last poll may predate the final evaluation; the curves come from the polls.
import { parseFinalProgress } from '../../../trainer/contract/index.js';
import type { SimCLRJobStatus } from '../../api/schema.js';
import { toStatusProgress } from '../progress-status.js';
import { setCondition, trainerTerminated } from '../status.js';
import { emptyPlan, type Observed, type Plan } from '../types.js';
import type { V1Pod } from '@kubernetes/client-node';

export function successPolicy(o: Observed, status: SimCLRJobStatus, gang: Map<number, V1Pod>): Plan | undefined {
  const rank0 = gang.get(0);
  if (rank0?.status?.phase !== 'Succeeded') return undefined;
  const message = `rank 0 (${rank0.metadata?.name}) completed`;
  let s: SimCLRJobStatus = { ...status, phase: 'Succeeded', completionTime: o.now.toISOString() };
  if (o.progress !== undefined) s.progress = o.progress;
  const final = parseFinalProgress(trainerTerminated(rank0)?.message);
  if (final !== undefined) {
    const history = o.progress?.history ?? status.progress?.history;
    s.progress = { ...toStatusProgress(final), ...(history !== undefined && { history }) };
  }
  s = setCondition(s, { type: 'Running', status: 'False', reason: 'JobSucceeded', message }, o.now);
  s = setCondition(s, { type: 'Succeeded', status: 'True', reason: 'JobSucceeded', message }, o.now);
  const plan = emptyPlan(s);
  plan.events.push({ type: 'Normal', reason: 'JobSucceeded', message });
  return plan;
}
