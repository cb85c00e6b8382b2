// The trainer's config for one rank, built from the job spec through the trainer's own contract, so a flag the
// trainer does not accept fails here (in reconcile) rather than in a crash-looping pod.
import { toArgs, type TrainConfigInput } from '../../trainer/contract/index.js';
import type { SimCLRJob } from '../api/schema.js';
import { masterAddr } from './names.js';

export const DATA_MOUNT = '/data';
export const CHECKPOINT_MOUNT = '/checkpoints';
/** Writable scratch on a read-only root filesystem (emptyDirs). */
export const SCRATCH_MOUNT = '/scratch';
export const TMP_MOUNT = '/tmp';

export function trainerConfig(job: SimCLRJob, rank: number): TrainConfigInput {
  const { spec } = job;
  const config: TrainConfigInput = {
    ...spec.training,
    numReplicas: spec.replicas,
    distributedRank: rank,
    distributedMaster: masterAddr(job),
    distributedPort: spec.masterPort,
    uid: job.metadata.name,
    resume: true,
    progressPort: spec.progressPort,
    logDir: `${SCRATCH_MOUNT}/runs`,
    modelDir: `${SCRATCH_MOUNT}/models`,
  };
  if (spec.data !== undefined) {
    config.dataDir = spec.data.path === '' ? DATA_MOUNT : `${DATA_MOUNT}/${spec.data.path.replace(/^\/+/, '')}`;
  }
  if (spec.checkpoint !== undefined) config.modelDir = CHECKPOINT_MOUNT;
  return config;
}

/** Container args for one rank: the contract's flags, then the user's extraArgs. */
export function trainerArgs(job: SimCLRJob, rank: number): string[] {
  try {
    return [...toArgs(trainerConfig(job, rank)), ...(job.spec.extraArgs ?? [])];
  } catch (err) {
    throw new Error(`spec.training of ${job.metadata.namespace}/${job.metadata.name} is not a valid trainer config`, {
      cause: err,
    });
  }
}
