// Corrupt checkpoints: when rank 0's resume finds checkpoints that do not verify, it moves them aside (kept, never
// deleted) and says so in its progress document. The job gets a CheckpointsCorrupt condition and one Warning event
// per new report: a gang that silently started again from step 0 would look like a healthy run.
import type { CorruptCheckpoints } from '../../../trainer/contract/index.js';
import { setCondition } from '../status.js';
import type { Observed, Plan } from '../types.js';

export const NO_VALID_CHECKPOINT = 'NoValidCheckpoint';
export const CORRUPT_CHECKPOINTS_SKIPPED = 'CorruptCheckpointsSkipped';

function describe(r: CorruptCheckpoints): { reason: string; message: string } {
  const newest = r.checkpoints[0];
  const which = newest === undefined ? '' : ` (newest: step ${newest.step}: ${newest.reason})`;
  const kept = `their files were moved to ${r.movedTo} and kept for inspection`;
  if (r.resumedFromStep === 0) {
    return { reason: NO_VALID_CHECKPOINT, message: `no checkpoint verified: ${r.count} corrupt${which}; the run ` +
      `started again from step 0; ${kept}` };
  }
  return { reason: CORRUPT_CHECKPOINTS_SKIPPED, message: `${r.count} corrupt checkpoint(s) skipped${which}; ` +
    `resumed from step ${r.resumedFromStep}; ${kept}` };
}

/** Adds the condition (and, when it is new, the event) to `plan` when rank 0 reports corrupt checkpoints. */
export function reportCorruptCheckpoints(o: Observed, plan: Plan): Plan {
  const report = o.corruptCheckpoints;
  if (report === undefined) return plan;
  const { reason, message } = describe(report);
  const status = setCondition(plan.status, { type: 'CheckpointsCorrupt', status: 'True', reason, message }, o.now);
  if (status === plan.status) return plan; // already reported
  return { ...plan, status, events: [...plan.events, { type: 'Warning', reason, message }] };
}
