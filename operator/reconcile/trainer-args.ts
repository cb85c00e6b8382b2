// The trainer's config for one rank, built from the job spec through the trainer's own contract, so a flag the
// trainer does not accept fails here (in reconcile) rather than in a crash-looping pod.
import { DISTRIBUTED_ENV, SEED_OPTIMIZER_ALIASES, toArgs, type TrainConfigInput } from '../../trainer/contract/index.js';
import { OPERATOR_MOUNTS, type SimCLRJob } from '../api/schema.js';
import { masterAddr } from './names.js';

export const DATA_MOUNT = OPERATOR_MOUNTS.data;
export const CHECKPOINT_MOUNT = OPERATOR_MOUNTS.checkpoint;
/** Writable scratch on a read-only root filesystem (emptyDirs). */
export const SCRATCH_MOUNT = OPERATOR_MOUNTS.scratch;
export const TMP_MOUNT = OPERATOR_MOUNTS.tmp;

export function trainerConfig(job: SimCLRJob, rank: number): TrainConfigInput {
  const { spec } = job;
  const config: TrainConfigInput = {
    ...spec.training,
    // The seed's optimizer names (lars_momentum) reach the pod as ours (lars).
    optimizer: (SEED_OPTIMIZER_ALIASES[spec.training.optimizer] ?? spec.training.optimizer) as TrainConfigInput['optimizer'],
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

/** Flags the pod gets as env instead (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): each value reaches the trainer
 * once, so there is nothing for it to reconcile. */
const ENV_FLAGS: ReadonlySet<string> = new Set(DISTRIBUTED_ENV.map((e) => e.flag));

/** Container args for one rank: the contract's flags (less those passed as env), then the user's extraArgs. */
export function trainerArgs(job: SimCLRJob, rank: number): string[] {
  try {
    const args = toArgs(trainerConfig(job, rank)).filter((a) => !ENV_FLAGS.has(a.slice(2).split('=')[0]!));
    return [...args, ...(job.spec.extraArgs ?? [])];
  } catch (err) {
    throw new Error(`spec.training of ${job.metadata.namespace}/${job.metadata.name} is not a valid trainer config`, {
      cause: err,
    });
  }
}
