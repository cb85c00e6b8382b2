// The one contract shared by trainer and operator: the trainer's flags/env and its progress document.
// The operator may import this folder and nothing else from trainer/.
export {
  TrainConfig,
  TrainConfigFields,
  TRAIN_CONFIG_DEFAULTS,
  TRAIN_CONFIG_RULES,
  DATASETS,
  ARCHS,
  OPTIMIZERS,
  EXECUTION_PROVIDERS,
  flagName,
  configKey,
} from './train-config.js';
export type { TrainConfigInput, TrainConfigKey } from './train-config.js';
export { celRule, renderMessage } from './rules.js';
export { SEED_OPTIMIZER_ALIASES } from './seed-optimizers.js';
export type { CelFields, ConfigRule, RuleInput } from './rules.js';
export { parseArgs, configError, toArgs, helpText, trainConfigJsonSchema, ConfigError, FLAG_SPECS, DISTRIBUTED_ENV } from './cli-args.js';
export type { FlagSpec } from './cli-args.js';
export {
  ProgressDocument,
  CheckpointRef,
  CorruptCheckpoints,
  MAX_CORRUPT_LISTED,
  ProgressHistory,
  HistoryPoint,
  EvalPoint,
  ResumePoint,
  HISTORY_MAX_POINTS,
  HISTORY_MAX_EVENTS,
  PROGRESS_HISTORY_FILE,
  PREVIEW_PATH,
  PREVIEW_VIEWS,
  PROGRESS_PHASES,
  EVAL_SPLITS,
  PROGRESS_SCHEMA_VERSION,
  PROGRESS_PATH,
  HEALTH_PATH,
  initialProgress,
  finalProgressMessage,
  parseFinalProgress,
} from './progress.js';
export type { EvalSplit, PreviewView, ProgressPhase } from './progress.js';
export {
  EXIT_OK,
  EXIT_FAILURE,
  EXIT_CONFIG_OR_DATA,
  EXIT_PEER_LOST,
  EXIT_STOPPED,
  DEFAULT_TERMINATION_MESSAGE_PATH,
  TERMINATION_MESSAGE_ENV,
  MAX_TERMINATION_MESSAGE_BYTES,
} from './exit.js';
