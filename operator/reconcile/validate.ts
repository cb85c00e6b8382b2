// What the apiserver admitted but the trainer would still refuse: a spec is checked here as each rank's pod will
// run it (the config the operator builds, then the pod's full argv and env through the trainer's own parser, which
// catches spec.extraArgs and spec.env). The CRD's rules come from the same contract, so this finds only what CEL
// cannot see (free-form args and env) or objects stored before a rule existed.
import type { V1Container } from '@kubernetes/client-node';
import {
  configError,
  ConfigError,
  flagName,
  parseArgs,
  TrainConfig,
  type TrainConfigKey,
} from '../../trainer/contract/index.js';
import type { SimCLRJob } from '../api/schema.js';
import { desiredPod } from './desired.js';
import { TRAINER_CONTAINER } from './names.js';
import { trainerConfig } from './trainer-args.js';

/** What the operator decides for every rank; a pod must run with exactly these. */
const OPERATOR_KEYS: readonly TrainConfigKey[] = ['numReplicas', 'distributedRank', 'distributedMaster', 'distributedPort',
  'uid', 'resume', 'progressPort', 'modelDir', 'dataDir'];

/** Literal env values of the trainer container (valueFrom ones are resolved by the kubelet, not known here). */
function literalEnv(c: V1Container): Record<string, string> {
  return Object.fromEntries((c.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
}

/** Undefined when every rank's trainer would accept its configuration; else the trainer's one-line reason. */
export function specProblem(job: SimCLRJob): string | undefined {
  // Ranks differ only in their rank, which the operator sets in range: the first and the last cover them.
  for (const rank of new Set([0, job.spec.replicas - 1])) {
    const bad = configError(trainerConfig(job, rank));
    if (bad !== undefined) return `the trainer refuses spec.training: ${bad.message}`;
    const c = desiredPod(job, rank, 0).spec?.containers.find((x) => x.name === TRAINER_CONTAINER);
    if (c === undefined) return `spec.podTemplate removed the ${TRAINER_CONTAINER} container`;
    let runs: TrainConfig;
    try {
      runs = parseArgs(c.args ?? [], literalEnv(c));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return `the trainer refuses the arguments of rank ${rank} (spec.extraArgs, spec.env): ${err.message}`;
    }
    const meant = TrainConfig.parse(trainerConfig(job, rank));
    for (const key of OPERATOR_KEYS) {
      if (runs[key] !== meant[key]) {
        return `rank ${rank} would run with --${flagName(key)}=${String(runs[key])} instead of ${String(meant[key])}: ` +
          'spec.env and spec.extraArgs may not set what the operator sets (rank, world size, master, paths, uid)';
      }
    }
  }
  return undefined;
}
