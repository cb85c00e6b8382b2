// The trainer's configuration: one zod schema, the single source of truth for the CLI flags, their
// defaults, ranges and --help text, and for the operator that builds pod args from it (toArgs).
// Keys are camelCase; each key's flag is its kebab-case form (batchSize -> --batch-size).
import { z } from 'zod';
import { eq, flag, gt, isSet, le, lit, mod, mul, not, num, oneOf, or, renderMessage, type ConfigRule } from './rules.js';

export const DATASETS = ['auto', 'fashion-mnist', 'mnist', 'synthetic', 'imagefolder', 'cifar10', 'cifar100'] as const;
export const ARCHS = ['resnet18', 'resnet34', 'resnet50'] as const;
export const OPTIMIZERS = ['lars', 'sgd', 'adam', 'adamw'] as const;
export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;

/** Data sets whose files have no default location, so --data-dir is required. */
const DATASETS_NEEDING_DATA_DIR: readonly string[] = ['imagefolder', 'cifar10', 'cifar100'];

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

/** Per-field schema, without cross-field rules (kept separate so tools can introspect it). */
export const TrainConfigFields = z.object({
  // --- data
  dataDir: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Data set folder; with --dataset auto (the default) the data set is inferred from it. fashion-mnist defaults to ' +
        '/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist); imagefolder (train/, test/ and an ' +
        'optional valid/, one folder per class) and cifar need it.',
    ),
  dataset: z
    .enum(DATASETS)
    .default('auto')
    .describe(
      'Which data set to train on. auto: what the data folder (--data-dir; in a SimCLRJob, spec.data) holds: ' +
        'imagefolder (a train/ folder), cifar10|cifar100 (binary batches), mnist|fashion-mnist (IDX files, told apart by ' +
        'their mean pixel), else an error naming --data-dir and --dataset; without a data folder, fashion-mnist from its ' +
        'default folder.',
    ),
  imageSizeOverride: int(8, 1024)
    .optional()
    .describe("Resize crops to this side length instead of the data set's native size."),
  evalImageSize: int(8, 1024)
    .optional()
    .describe(
      'Side length of the whole images the encoder sees at evaluation and in the exported model (default: the training ' +
        'size). Random-resized crops magnify objects, so a model trained on S-px crops sees objects at their training ' +
        'size in whole images of about 1.4S px (FixRes, Touvron et al. 2019).',
    ),
  cropScaleMin: z
    .number()
    .gt(0)
    .max(1)
    .default(0.08)
    .describe('Smallest random-resized-crop area, as a fraction of the image (SimCLR: 0.08; milder, e.g. 0.2, suits tiny images).'),
  colorJitterStrength: z
    .number()
    .min(0)
    .max(2.5)
    .default(0.5)
    .describe(
      'Colour jitter strength s: brightness, contrast, saturation 0.8s, hue 0.2s, applied with p=0.8 (SimCLR: 1 on ImageNet, 0.5 on CIFAR-10; 0 = off).',
    ),
  workersPerReplica: int(-1, 64)
    .default(-1)
    .describe(
      'Worker threads per replica that decode and augment images (0 = on the main thread; -1 = auto: 2 for image ' +
        'files, 0 for in-memory sets such as IDX, CIFAR and synthetic, whose augmentation outpaces the step).',
    ),
  // --- optimisation
  batchSize: int(2, 65536).default(256).describe('Global batch size, summed over all replicas.'),
  epochs: int(1, 100000).default(100).describe('Number of passes over the training set.'),
  maxSteps: int(0, 1_000_000_000)
    .default(0)
    .describe('Stop (after a checkpoint) once this many global steps are done; the schedule still spans --epochs (0 = off).'),
  lr: z.number().gt(0).max(100).default(0.3).describe('Base learning rate, scaled by batch/256 (see --lr-scaling).'),
  lrScaling: z
    .enum(['linear', 'sqrt'])
    .default('linear')
    .describe('Learning-rate scaling: linear = lr x batch/256, sqrt = lr x sqrt(batch).'),
  lrUpdateSchedule: z
    .enum(['cosine', 'fixed'])
    .default('cosine')
    .describe('Schedule after warmup, updated every step.'),
  warmup: z.number().min(0).max(100000).default(10).describe('Linear warmup length in epochs (fractions allowed; longer than --epochs means lr never peaks).'),
  optimizer: z.enum(OPTIMIZERS).default('lars').describe('Optimizer: LARS with momentum (SimCLR), SGD with momentum, Adam or AdamW.'),
  momentum: z.number().min(0).lt(1).default(0.9).describe('Momentum (lars, sgd) or beta1 (adam, adamw).'),
  weightDecay: z
    .number()
    .min(0)
    .max(1)
    .default(1e-6)
    .describe('Weight decay (not applied to 1-D parameters with lars).'),
  clip: z.number().min(0).default(0).describe('Clip the global gradient norm to this value (0 = off).'),
  polyakEma: z
    .number()
    .min(0)
    .lt(1)
    .default(0)
    .describe(
      'Polyak averaging: decay d of an exponential moving average of the weights and BatchNorm statistics, ' +
        'avg = d avg + (1 - d) w after every step, used for evaluation and the exported encoder and kept in ' +
        'checkpoints (the seed\'s flag; e.g. 0.999; 0 = off).',
    ),
  earlyStop: z
    .boolean()
    .default(false)
    .describe(
      'Stop when the kNN top-1 of the evaluation after each epoch (on valid/ when the data set has one) has not ' +
        'improved for --early-stop-patience evaluations; the best checkpoint is never rotated away and is what ' +
        'is exported.',
    ),
  earlyStopPatience: int(1, 100000)
    .default(10)
    .describe('Evaluations without a new best kNN top-1 before --early-stop stops the run (the seed\'s 10).'),
  weightInitialization: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Start from the weights of a checkpoint (a step-*.json manifest, or a run folder for its newest) or of an ' +
        'exported encoder.onnx (the encoder only; head and classifier start fresh). Optimizer state and step start ' +
        'fresh; --resume with a checkpoint of this run takes precedence.',
    ),
  // --- model
  arch: z.enum(ARCHS).default('resnet18').describe('Encoder architecture (ResNet depth).'),
  stem: z
    .enum(['auto', 'imagenet', 'cifar'])
    .default('auto')
    .describe('ResNet stem: imagenet (7x7 conv + max-pool), cifar (3x3 conv, no pool), auto = cifar below 64 px.'),
  widthMultiplier: z
    .number()
    .min(0.0625)
    .max(16)
    .default(1)
    .describe('ResNet width multiplier (fractions allowed: 0.125 gives a ResNet-18 of widths 8-64).'),
  headLatentSize: int(1, 65536).default(1024).describe('Hidden size of the projection head.'),
  nceSize: int(1, 65536).default(128).describe('Output size of the projection head (the NT-Xent embedding).'),
  nceTemperature: z.number().gt(0).max(10).default(0.1).describe('NT-Xent temperature.'),
  precision: z
    .enum(['fp32', 'fp16'])
    .default('fp32')
    .describe(
      'Compute precision. fp16 (--half): the model computes in float16 from float32 master weights, with float32 ' +
        'BatchNorm, loss and optimizer state and dynamic loss scaling (a step whose gradients overflow is skipped and ' +
        'the scale halved; it doubles after 2000 good steps; saved in checkpoints). Needs the webgpu or cuda provider.',
    ),
  // --- execution
  executionProvider: z.enum(EXECUTION_PROVIDERS).default('cpu').describe('ONNX Runtime execution provider.'),
  threads: int(0, 1024).default(0).describe('ONNX Runtime intra-op threads (0 = ONNX Runtime default).'),
  cudaTf32: z
    .boolean()
    .optional()
    .describe('CUDA only: TF32 tensor-core math for fp32 convolutions and matrix products (ONNX Runtime\'s default: on); --no-cuda-tf32 computes in exact fp32.'),
  cudnnConvAlgoSearch: z
    .enum(['exhaustive', 'heuristic', 'default'])
    .optional()
    .describe('CUDA only: how cuDNN picks each convolution\'s algorithm: exhaustive (times them all on the first step; ONNX Runtime\'s default), heuristic, or default.'),
  cudaMemoryLimitMib: int(1, 16_777_216)
    .optional()
    .describe('CUDA only: the most GPU memory ONNX Runtime\'s arena may hold, in MiB (default: no limit).'),
  gradientCacheChunk: int(0, 65536)
    .default(0)
    .describe('Images per forward+backward chunk in the gradient-cache step (0 = the whole local batch).'),
  seed: int(0, 2 ** 32 - 1).default(42).describe('Random seed for initialisation, shuffling and augmentation.'),
  debugStep: z.boolean().default(false).describe('Run a single minibatch, then exit.'),
  // --- distributed (env RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are also accepted)
  numReplicas: int(1, 4096).default(1).describe('Total number of replicas (env WORLD_SIZE).'),
  distributedRank: int(0, 4095).default(0).describe('This replica\'s rank in [0, num-replicas) (env RANK).'),
  distributedMaster: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Host of rank 0, which hosts the rendezvous store (env MASTER_ADDR).'),
  distributedPort: int(1, 65535).default(29300).describe('Port of the rendezvous store on rank 0 (env MASTER_PORT).'),
  rendezvousTimeout: z
    .number()
    .gt(0)
    .max(86400)
    .default(300)
    .describe('Seconds to wait for all replicas to join before failing.'),
  collectiveTimeout: z
    .number()
    .gt(0)
    .max(86400)
    .default(300)
    .describe('Seconds one collective may take before the step fails (a dead peer).'),
  convertToSyncBn: z
    .boolean()
    .default(false)
    .describe(
      'Synchronized BatchNorm: with several replicas, every train-mode BatchNorm normalises with the statistics of the ' +
        'whole global batch (summed across replicas inside the forward and backward pass, as PyTorch\'s SyncBatchNorm), ' +
        'not each replica\'s share. Needs each replica\'s batch in one chunk (--gradient-cache-chunk 0 or the local batch).',
    ),
  // --- state and observability
  uid: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" or "-", at most 128')
    .optional()
    .describe('Run name, used for the checkpoint and log folders (default: generated from the start time).'),
  modelDir: z.string().min(1).default('./models').describe('Checkpoints go to <model-dir>/<uid>.'),
  logDir: z.string().min(1).default('./runs').describe('TensorBoard event files go to <log-dir>/<uid>.'),
  checkpointEvery: int(0, 10_000_000)
    .default(0)
    .describe('Write a checkpoint every N steps (0 = at the end of every epoch only).'),
  keepCheckpoints: int(1, 1000).default(3).describe('How many of the newest checkpoints to keep.'),
  resume: z
    .boolean()
    .default(false)
    .describe('Continue from the newest valid checkpoint in <model-dir>/<uid> (starts fresh if none).'),
  progressPort: int(0, 65535)
    .default(0)
    .describe('Rank 0 serves its progress document on this port at GET /progress (0 = off).'),
  knnK: int(1, 10000).default(200).describe('Neighbours for the kNN (cosine) evaluation.'),
  logInterval: int(0, 1_000_000_000)
    .default(10)
    .describe(
      'Every N steps, TensorBoard gets step/loss (mean over those steps), step/lr and step/images_per_second, besides ' +
        'the per-epoch train/... scalars (0 = per epoch only).',
    ),
  logLevel: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
    .default('info')
    .describe('Minimum level of the pino JSON logs.'),
});

export type TrainConfigKey = keyof z.infer<typeof TrainConfigFields>;

type ConfigValues = z.infer<typeof TrainConfigFields>;

const [batchSize, numReplicas, chunk] = [num('batchSize'), num('numReplicas'), num('gradientCacheChunk')];
/** The gradient cache splits the local batch (batchSize / numReplicas) into chunks of this size. */
const wholeLocalBatch = or(eq(chunk, lit(0)), le(batchSize, mul(chunk, numReplicas)));

/** Cross-field rules, written once (rules.ts): the trainer evaluates them here, and the operator prints the ones on
 * fields a SimCLRJob sets as CEL for the apiserver. Each message names the flag to change and how. */
export const TRAIN_CONFIG_RULES: readonly ConfigRule[] = [
  {
    key: 'batchSize',
    holds: eq(mod(batchSize, numReplicas), lit(0)),
    message: '{batchSize} is not divisible by {numReplicas}: use a multiple of it (each replica gets an equal share)',
  },
  {
    key: 'distributedRank',
    holds: gt(numReplicas, num('distributedRank')),
    message: '{distributedRank} must be below {numReplicas}',
  },
  {
    key: 'gradientCacheChunk',
    // Checked once the batch splits evenly (the rule above reports it otherwise).
    holds: or(not(eq(mod(batchSize, numReplicas), lit(0))), eq(chunk, lit(0)),
      eq(mod(batchSize, mul(chunk, numReplicas)), lit(0))),
    message: '{gradientCacheChunk} does not divide the local batch ({batchSize} / {numReplicas}): use a divisor of it, ' +
      'or 0 for the whole local batch',
  },
  {
    key: 'convertToSyncBn',
    // Chunks run one after another, so a chunk's statistics cannot include the later chunks' (not built: it would need
    // a statistics pass over every chunk first).
    holds: or(not(flag('convertToSyncBn')), wholeLocalBatch),
    message: '{convertToSyncBn} needs each replica\'s batch in one chunk, and {gradientCacheChunk} splits it: drop ' +
      '--gradient-cache-chunk (or set it to the local batch, {batchSize} / {numReplicas}), or drop the flag',
  },
  ...(['cudaTf32', 'cudnnConvAlgoSearch', 'cudaMemoryLimitMib'] as const).map((key) => ({
    key,
    holds: or(oneOf('executionProvider', ['cuda']), not(isSet(key))),
    message: `{${key}} sets the CUDA provider, not {executionProvider}: drop it, or use the cuda provider`,
  })),
  {
    key: 'precision',
    // ORT's CPU provider has no float16 Conv (MLAS has one on ARM only): refused here, not mid-run.
    holds: or(oneOf('precision', ['fp32']), oneOf('executionProvider', ['webgpu', 'cuda'])),
    message: '{precision} needs the float16 kernels of a GPU provider, which {executionProvider} is not: use the ' +
      'webgpu or cuda provider, or precision fp32',
  },
  {
    key: 'dataDir',
    holds: or(not(oneOf('dataset', DATASETS_NEEDING_DATA_DIR)), isSet('dataDir')),
    message: '{dataDir} is required for {dataset}: point it at the data set folder',
  },
];

/** The flag of a config key, with its value, as the trainer's messages name it. */
function flagWithValue(c: ConfigValues, key: string): string {
  const value = (c as Record<string, unknown>)[key];
  if (typeof value === 'boolean') return `--${flagName(key)}`;
  return value === undefined ? `--${flagName(key)}` : `--${flagName(key)}=${String(value)}`;
}

function checkCrossFieldRules(c: ConfigValues, ctx: z.RefinementCtx): void {
  for (const rule of TRAIN_CONFIG_RULES) {
    if (rule.holds.eval(c)) continue;
    ctx.addIssue({ code: 'custom', path: [rule.key], message: renderMessage(rule.message, (k) => flagWithValue(c, k)) });
  }
}

export const TrainConfig = TrainConfigFields.superRefine(checkCrossFieldRules);
export type TrainConfig = z.infer<typeof TrainConfig>;
/** What a caller may pass before defaults are applied (e.g. the operator building a config). */
export type TrainConfigInput = z.input<typeof TrainConfig>;

/** The defaults, as one parsed config. */
export const TRAIN_CONFIG_DEFAULTS: TrainConfig = TrainConfig.parse({});

/** camelCase config key -> kebab-case flag name without dashes (batchSize -> batch-size). */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
}

/** kebab-case flag name -> camelCase config key (batch-size -> batchSize). */
export function configKey(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());
}
