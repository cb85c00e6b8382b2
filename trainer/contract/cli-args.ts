// argv + env <-> TrainConfig. A hand parser (not util.parseArgs) so every bad input becomes one line
// that names the flag and says how to fix it. The flag table is read from the zod schema itself.
import { z } from 'zod';
import { resolveOptimizerName, SEED_OPTIMIZER_ALIASES } from './seed-optimizers.js';
import { DATASETS, TrainConfig, TrainConfigFields, TRAIN_CONFIG_DEFAULTS, configKey, flagName } from './train-config.js';

/** A bad flag, flag value or env value. `message` is one line naming the flag and the fix. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly flag: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type FlagKind = 'boolean' | 'integer' | 'number' | 'string';

/** One flag, as described by the schema. */
export interface FlagSpec {
  readonly key: string;
  readonly flag: string;
  readonly kind: FlagKind;
  readonly description: string;
  readonly default?: unknown;
  readonly choices?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
}

interface JsonSchemaProperty {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

function buildFlagSpecs(): readonly FlagSpec[] {
  const schema = z.toJSONSchema(TrainConfigFields, { io: 'input' }) as {
    properties: Record<string, JsonSchemaProperty>;
  };
  return Object.entries(schema.properties).map(([key, p]) => ({
    key,
    flag: flagName(key),
    kind: (p.type ?? 'string') as FlagKind,
    description: p.description ?? '',
    default: p.default,
    choices: p.enum,
    minimum: p.minimum,
    maximum: p.maximum,
    exclusiveMinimum: p.exclusiveMinimum,
    exclusiveMaximum: p.exclusiveMaximum,
  }));
}

/** Every flag, in schema order. */
export const FLAG_SPECS: readonly FlagSpec[] = buildFlagSpecs();
const SPEC_BY_FLAG = new Map(FLAG_SPECS.map((s) => [s.flag, s]));

/** Env variables of the torch.distributed convention, and the flag each one mirrors (for the operator's pod env). */
export const DISTRIBUTED_ENV = [
  { env: 'RANK', flag: 'distributed-rank' },
  { env: 'WORLD_SIZE', flag: 'num-replicas' },
  { env: 'MASTER_ADDR', flag: 'distributed-master' },
  { env: 'MASTER_PORT', flag: 'distributed-port' },
] as const;

/** Raw string values keyed by flag name, before coercion. */
type RawFlags = Map<string, string>;

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_v, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

// Flags of the seed implementation (jramapuram/SimCLR) that have no counterpart here, with what to do instead.
const SEED_ONLY_FLAGS: Readonly<Record<string, string>> = {
  'visdom-url': 'visdom is not supported: metrics go to TensorBoard event files under --log-dir/<uid> (the seed\'s default without visdom); drop the flag',
  'visdom-port': 'visdom is not supported: metrics go to TensorBoard event files under --log-dir/<uid> (the seed\'s default without visdom); drop the flag',
  // The seed's representation is the encoder's pooled output (its view(-1, size) only declares the width): no layer
  // of its model has this size as a free choice, so neither has ours.
  'representation-size': 'the representation is the encoder\'s pooled output, whose width follows --arch and ' +
    '--width-multiplier (resnet18/34: 512 x multiplier, resnet50: 2048 x): drop the flag',
  task: `the seed's --task picks its data loader (DALI or not); here --dataset picks the data (${DATASETS.join('|')}) and the loader is always ours`,
};

function unknownFlagError(flag: string): ConfigError {
  const seedHint = SEED_ONLY_FLAGS[flag];
  if (seedHint) return new ConfigError(`--${flag} is a flag of the seed implementation: ${seedHint}`, flag);
  const nearest = FLAG_SPECS.map((s) => ({ flag: s.flag, d: editDistance(flag, s.flag) })).sort((a, b) => a.d - b.d)[0];
  const hint = nearest.d <= 3 ? `did you mean --${nearest.flag}?` : 'see --help for the list';
  return new ConfigError(`unknown flag --${flag}: ${hint}`, flag);
}

function setOnce(raw: RawFlags, flag: string, value: string): void {
  if (raw.has(flag)) throw new ConfigError(`--${flag} is given twice: keep one`, flag);
  raw.set(flag, value);
}

/** Split argv into flag -> raw value; booleans as "true"/"false". --half is --precision=fp16. */
function tokenize(argv: readonly string[]): RawFlags {
  const raw: RawFlags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (!token.startsWith('--') || token === '--') {
      throw new ConfigError(`unexpected argument "${token}": flags look like --name=value`, token);
    }
    const eq = token.indexOf('=');
    let name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    let value: string | undefined = eq === -1 ? undefined : token.slice(eq + 1);
    if (name === 'half') {
      if (value !== undefined) throw new ConfigError('--half takes no value: use --precision=fp16|fp32', 'half');
      setOnce(raw, 'precision', 'fp16');
      continue;
    }
    const negated = name.startsWith('no-') && SPEC_BY_FLAG.get(name.slice(3))?.kind === 'boolean';
    if (negated) {
      if (value !== undefined) throw new ConfigError(`--${name} takes no value`, name.slice(3));
      name = name.slice(3);
      value = 'false';
    }
    const spec = SPEC_BY_FLAG.get(name);
    if (spec === undefined) throw unknownFlagError(name);
    if (value === undefined) {
      if (spec.kind === 'boolean') value = 'true';
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
      else throw new ConfigError(`--${name} needs a value: --${name}=${describeAllowed(spec)}`, name);
    }
    setOnce(raw, name, value);
  }
  return raw;
}

/**
 * Fold RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT into the coerced flag values; a flag and an env var that
 * disagree (as values: "029300" equals "29300") is an error, never silently resolved.
 */
function mergeEnv(values: Map<string, unknown>, env: Readonly<Record<string, string | undefined>>): void {
  for (const { env: name, flag } of DISTRIBUTED_ENV) {
    const fromEnv = env[name];
    if (fromEnv === undefined || fromEnv === '') continue;
    const spec = SPEC_BY_FLAG.get(flag) as FlagSpec;
    let envValue: unknown;
    try {
      envValue = coerce(spec, fromEnv.trim());
    } catch {
      throw new ConfigError(`env ${name}=${fromEnv} is not valid for --${flag}: use ${describeAllowed(spec)}`, flag);
    }
    if (!values.has(flag)) {
      values.set(flag, envValue);
    } else if (values.get(flag) !== envValue) {
      throw new ConfigError(
        `--${flag}=${String(values.get(flag))} disagrees with env ${name}=${fromEnv}: drop one or make them equal`,
        flag,
      );
    }
  }
}

function describeAllowed(spec: FlagSpec): string {
  if (spec.choices) return spec.choices.join('|');
  if (spec.kind === 'boolean') return 'true|false';
  if (spec.kind === 'integer' || spec.kind === 'number') {
    const what = spec.kind === 'integer' ? 'an integer' : 'a number';
    const range = rangeText(spec);
    return range === '' ? what : `${what} in ${range}`;
  }
  return '<value>';
}

function rangeText(spec: FlagSpec): string {
  const lo = spec.minimum !== undefined ? `[${spec.minimum}` : spec.exclusiveMinimum !== undefined ? `(${spec.exclusiveMinimum}` : '';
  const hi = spec.maximum !== undefined ? `${spec.maximum}]` : spec.exclusiveMaximum !== undefined ? `${spec.exclusiveMaximum})` : '';
  if (lo === '' && hi === '') return '';
  return `${lo || '(-inf'}, ${hi || 'inf)'}`;
}

function coerce(spec: FlagSpec, value: string): unknown {
  const bad = (): ConfigError =>
    new ConfigError(`--${spec.flag}=${value} is not valid: use ${describeAllowed(spec)}`, spec.flag);
  switch (spec.kind) {
    case 'boolean':
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      throw bad();
    case 'integer':
    case 'number': {
      const n = value.trim() === '' ? NaN : Number(value);
      if (!Number.isFinite(n) || (spec.kind === 'integer' && !Number.isInteger(n))) throw bad();
      return n;
    }
    default:
      return value;
  }
}

/** Turn the first zod issue into a one-line error naming the flag. */
function issueToError(issue: z.core.$ZodIssue, values: ReadonlyMap<string, unknown>): ConfigError {
  const key = String(issue.path[0] ?? '');
  const flag = flagName(key);
  const spec = SPEC_BY_FLAG.get(flag);
  // Cross-field rules' messages already name their flags and values.
  if (issue.code === 'custom') return new ConfigError(issue.message, flag);
  const given = values.get(flag);
  const allowed = spec ? ` (allowed: ${spec.choices ? spec.choices.join('|') : rangeText(spec) || describeAllowed(spec)})` : '';
  return new ConfigError(`--${flag}=${given === undefined ? '?' : String(given)} is not valid: ${issue.message}${allowed}`, flag);
}

/** The seed's optimizer names (lars_momentum, momentum) become ours; the ones we cannot compute are refused here. */
function resolveOptimizerAlias(raw: RawFlags): void {
  const given = raw.get('optimizer');
  if (given === undefined) return;
  const resolved = resolveOptimizerName(given);
  if (resolved === undefined) return;
  if ('refused' in resolved) throw new ConfigError(`--optimizer=${given} is an optimizer of the seed we do not have: ${resolved.refused}`, 'optimizer');
  raw.set('optimizer', resolved.ours);
}

/**
 * Parse the trainer's flags (argv without the node/script/subcommand prefix) and its env.
 * Precedence: flag > env > default; a flag and env var that disagree is an error.
 * @throws ConfigError with a one-line message naming the flag and the fix.
 */
export function parseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): TrainConfig {
  const raw = tokenize(argv);
  resolveOptimizerAlias(raw);
  const values = new Map<string, unknown>();
  for (const [flag, value] of raw) values.set(flag, coerce(SPEC_BY_FLAG.get(flag) as FlagSpec, value));
  mergeEnv(values, env);
  const input: Record<string, unknown> = {};
  for (const [flag, value] of values) input[configKey(flag)] = value;
  const result = TrainConfig.safeParse(input);
  if (!result.success) throw issueToError(result.error.issues[0], values);
  return result.data;
}

/** The trainer's verdict on a config built in code (the operator's, for one rank): undefined when the trainer accepts
 * it, else the one-line error parseArgs gives for the same values. */
export function configError(config: z.input<typeof TrainConfig>): ConfigError | undefined {
  const result = TrainConfig.safeParse(config);
  if (result.success) return undefined;
  const values = new Map(Object.entries(config).map(([k, v]) => [flagName(k), v as unknown]));
  return issueToError(result.error.issues[0], values);
}

/**
 * The inverse of parseArgs: the flags that reproduce `config` (validated first), omitting values
 * equal to their defaults so pod args stay short. parseArgs(toArgs(c)) deep-equals TrainConfig.parse(c).
 */
export function toArgs(config: z.input<typeof TrainConfig>): string[] {
  const full = TrainConfig.parse(config) as Record<string, unknown>;
  const defaults = TRAIN_CONFIG_DEFAULTS as Record<string, unknown>;
  const args: string[] = [];
  for (const spec of FLAG_SPECS) {
    const value = full[spec.key];
    if (value === undefined || value === defaults[spec.key]) continue;
    if (spec.kind === 'boolean') args.push(value === true ? `--${spec.flag}` : `--no-${spec.flag}`);
    else args.push(`--${spec.flag}=${String(value)}`);
  }
  return args;
}

/** JSON Schema of the flags (input side: defaulted fields optional), e.g. for the operator's CRD. */
export function trainConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(TrainConfigFields, { io: 'input' }) as Record<string, unknown>;
}

/** The --help text, generated from the schema's descriptions, defaults and ranges. */
export function helpText(command = 'simclr train'): string {
  const lines = [`Usage: ${command} [--flag=value ...]`, '', 'Flags:'];
  for (const spec of FLAG_SPECS) {
    const value = spec.kind === 'boolean' ? '' : `=${spec.choices ? spec.choices.join('|') : `<${spec.kind}>`}`;
    const facts: string[] = [];
    if (spec.default !== undefined) facts.push(`default ${JSON.stringify(spec.default)}`);
    const range = rangeText(spec);
    if (range !== '') facts.push(`range ${range}`);
    const suffix = facts.length > 0 ? ` [${facts.join('; ')}]` : '';
    lines.push(`  --${spec.flag}${value}`, `      ${spec.description}${suffix}`);
  }
  lines.push(
    '  --half',
    '      Shorthand for --precision=fp16 (mixed precision with dynamic loss scaling; webgpu or cuda provider).',
    '',
    `--optimizer also takes the seed's names: ${Object.entries(SEED_OPTIMIZER_ALIASES).map(([a, o]) => `${a} = ${o}`).join(', ')}`,
    "(its other names are refused with the nearest equivalent). The seed's plain sgd is --optimizer=sgd --momentum=0.",
    '',
    'Boolean flags also take --no-<flag>. Env RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set',
    '--distributed-rank, --num-replicas, --distributed-master and --distributed-port; a flag that',
    'disagrees with its env variable is an error.',
  );
  return lines.join('\n');
}
