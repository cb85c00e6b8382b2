// The progress document rank 0 serves at GET /progress; the operator reads it into SimCLRJob status.
// Both sides validate with this schema so they cannot drift apart. Bump PROGRESS_SCHEMA_VERSION on
// any change that is not a pure addition of an optional field.
import { z } from 'zod';

export const PROGRESS_SCHEMA_VERSION = 1 as const;
/** Paths rank 0 serves on --progress-port. */
export const PROGRESS_PATH = '/progress';
export const HEALTH_PATH = '/healthz';
/** Rank 0 serves the newest augmentation grids (PNG) at PREVIEW_PATH/<view>.png, as TensorBoard gets them. */
export const PREVIEW_PATH = '/preview';
export const PREVIEW_VIEWS = ['augmentation1', 'augmentation2'] as const;
export type PreviewView = (typeof PREVIEW_VIEWS)[number];

export const PROGRESS_PHASES = [
  'starting', // process up, parsing config, joining the rendezvous
  'loading-data',
  'training',
  'evaluating', // kNN / linear probe on the valid or test set after an epoch
  'checkpointing',
  'finished',
  'failed',
] as const;
export type ProgressPhase = (typeof PROGRESS_PHASES)[number];

export const EVAL_SPLITS = ['valid', 'test'] as const;
export type EvalSplit = (typeof EVAL_SPLITS)[number];

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, 'must be finite');
const accuracy = z.number().min(0).max(1).nullable();

export const CheckpointRef = z.object({
  path: z.string().min(1).describe('Checkpoint file path, as seen from the trainer pod.'),
  step: count,
  epoch: count,
  time: z.iso.datetime().describe('When it was written (ISO 8601, UTC).'),
});
export type CheckpointRef = z.infer<typeof CheckpointRef>;

/** Training points a history keeps at most: when full, every other point goes and the stride doubles. */
export const HISTORY_MAX_POINTS = 256;
/** Evaluations and resumes a history keeps at most (the newest). */
export const HISTORY_MAX_EVENTS = 128;
/** Where rank 0 keeps the history beside its checkpoints, so a resumed gang continues the curves. */
export const PROGRESS_HISTORY_FILE = 'progress-history.json';

// Optional rather than nullable fields: the operator copies the history into the SimCLRJob status, whose CRD schema
// is generated from zod and has no nulls.
export const HistoryPoint = z.object({
  step: count,
  loss: finite.describe('Mean training loss over the recent steps, as the progress document reports it.'),
  lr: z.number().min(0),
  imagesPerSecond: z.number().min(0).optional(),
});
export type HistoryPoint = z.infer<typeof HistoryPoint>;

export const EvalPoint = z.object({
  step: count,
  split: z.enum(EVAL_SPLITS),
  top1: z.number().min(0).max(1).optional(),
  top5: z.number().min(0).max(1).optional(),
  knnTop1: z.number().min(0).max(1).optional(),
});
export type EvalPoint = z.infer<typeof EvalPoint>;

export const ResumePoint = z.object({
  step: count.describe('The checkpoint step a new gang resumed from.'),
  time: z.iso.datetime(),
});
export type ResumePoint = z.infer<typeof ResumePoint>;

export const ProgressHistory = z.object({
  stride: z.number().int().min(1).describe('Steps between training points; doubles each time the history fills.'),
  train: z.array(HistoryPoint).max(HISTORY_MAX_POINTS).describe('Training points: step, loss, lr, imagesPerSecond.'),
  evals: z.array(EvalPoint).max(HISTORY_MAX_EVENTS).describe('One point per evaluation: step, split, knnTop1, top1, top5.'),
  resumes: z.array(ResumePoint).max(HISTORY_MAX_EVENTS).describe('Where each restarted gang resumed: step, time.'),
});
export type ProgressHistory = z.infer<typeof ProgressHistory>;

/** Checkpoints a resume found corrupt (listed up to this many, newest first). */
export const MAX_CORRUPT_LISTED = 16;

export const CorruptCheckpoints = z.object({
  resumedFromStep: count.describe('The step the run resumed from: 0 when no checkpoint verified.'),
  count: count.describe('Checkpoints that did not verify.'),
  checkpoints: z
    .array(z.object({ step: count, reason: z.string() }))
    .max(MAX_CORRUPT_LISTED)
    .describe('The newest of them: step and why it did not verify.'),
  movedTo: z.string().describe('Folder their files were moved to, kept for inspection (as the trainer sees it).'),
});
export type CorruptCheckpoints = z.infer<typeof CorruptCheckpoints>;

export const ProgressDocument = z.object({
  schemaVersion: z.literal(PROGRESS_SCHEMA_VERSION),
  uid: z.string().min(1),
  phase: z.enum(PROGRESS_PHASES),
  worldSize: z.number().int().min(1),
  epoch: count.describe('Current epoch, 0-based; equals epochs when finished.'),
  epochs: count,
  step: count.describe('Global optimizer steps completed.'),
  totalSteps: count,
  loss: finite.nullable().describe('Latest training loss (mean over recent steps); null before the first step.'),
  lr: z.number().min(0).nullable(),
  imagesPerSecond: z.number().min(0).nullable().describe('Global throughput over recent steps, all replicas.'),
  etaSeconds: z.number().min(0).nullable(),
  top1: accuracy.describe('Linear-classifier top-1 on evalSplit after the last evaluated epoch.'),
  top5: accuracy,
  knnTop1: accuracy,
  evalSplit: z
    .enum(EVAL_SPLITS)
    .optional()
    .describe('Where top1/top5/knnTop1 were measured: valid (when the data set has one) before the last epoch, test after it.'),
  lastCheckpoint: CheckpointRef.nullable(),
  startedAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  message: z.string().optional().describe('Why, when phase is failed.'),
  corruptCheckpoints: CorruptCheckpoints.optional().describe('Checkpoints this run found corrupt when it resumed.'),
  history: ProgressHistory.optional().describe('Curves since the job began (across resumes), bounded and downsampled.'),
  preview: z
    .object({ step: count, epoch: count })
    .optional()
    .describe('When the augmentation grids at PREVIEW_PATH were drawn (the first batch of an epoch).'),
});
export type ProgressDocument = z.infer<typeof ProgressDocument>;

/** A document for a run that has just started: everything measured is still null. */
export function initialProgress(args: {
  uid: string;
  worldSize: number;
  epochs: number;
  totalSteps: number;
  now?: Date;
}): ProgressDocument {
  const now = (args.now ?? new Date()).toISOString();
  return {
    schemaVersion: PROGRESS_SCHEMA_VERSION,
    uid: args.uid,
    phase: 'starting',
    worldSize: args.worldSize,
    epoch: 0,
    epochs: args.epochs,
    step: 0,
    totalSteps: args.totalSteps,
    loss: null,
    lr: null,
    imagesPerSecond: null,
    etaSeconds: null,
    top1: null,
    top5: null,
    knnTop1: null,
    lastCheckpoint: null,
    startedAt: now,
    updatedAt: now,
  };
}

/** Rank 0's last word on success, as its termination message: the final document (the kubelet keeps 4096 bytes, so
 * without the curves, the preview and the corrupt-checkpoint list, which the operator has from its polls). A poll
 * every interval misses what happens after the last one: the final evaluation, the export. */
export function finalProgressMessage(doc: ProgressDocument): string {
  const { history: _h, preview: _p, corruptCheckpoints: _c, ...rest } = doc;
  return JSON.stringify(rest);
}

/** The final document from a termination message, or undefined when the message is not one. */
export function parseFinalProgress(message: string | undefined): ProgressDocument | undefined {
  if (message === undefined || !message.startsWith('{')) return undefined;
  try {
    const r = ProgressDocument.safeParse(JSON.parse(message));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
