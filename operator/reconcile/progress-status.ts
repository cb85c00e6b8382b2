// Rank 0's progress document (the trainer's contract) as SimCLRJob status shows it: read by the poller while rank 0
// runs, and by the success policy from rank 0's termination message.
import type { ProgressDocument } from '../../trainer/contract/index.js';
import type { Progress } from '../api/schema.js';

/** The document counts epochs from 0 (epochs when finished); status shows the epoch in progress from 1, as
 * `kubectl get scj` users read it ("epoch 3 of 10"), and 0 before training starts. */
export function statusEpoch(doc: ProgressDocument): number {
  if (doc.phase === 'starting' || doc.phase === 'loading-data') return 0;
  if (doc.phase === 'finished') return doc.epochs;
  return Math.min(doc.epoch + 1, doc.epochs);
}

export function toStatusProgress(doc: ProgressDocument): Progress {
  const p: Progress = { epoch: statusEpoch(doc), step: doc.step, totalSteps: doc.totalSteps, updateTime: doc.updatedAt };
  if (doc.loss !== null) p.loss = doc.loss;
  if (doc.imagesPerSecond !== null) p.imagesPerSecond = doc.imagesPerSecond;
  if (doc.etaSeconds !== null) p.etaSeconds = doc.etaSeconds;
  if (doc.lastCheckpoint !== null) p.lastCheckpoint = doc.lastCheckpoint.path;
  if (doc.knnTop1 !== null) p.knnTop1 = doc.knnTop1;
  if (doc.top1 !== null) p.top1 = doc.top1;
  if (doc.top5 !== null) p.top5 = doc.top5;
  if (doc.evalSplit !== undefined) p.evalSplit = doc.evalSplit;
  if (doc.history !== undefined) p.history = doc.history;
  return p;
}
