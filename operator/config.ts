// Operator configuration: flags, with env fallbacks, validated once at start. Nothing below reads process.env.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ADMIN_VOLUME_SOURCE_KINDS } from './api/schema.js';

export const Config = z.object({
  kubeconfig: z.string().min(1).optional().describe('kubeconfig file; default: in-cluster or ~/.kube/config'),
  namespace: z.string().min(1).optional().describe('watch only this namespace; default: all'),
  listen: z
    .string()
    .regex(/^[^:]*:[0-9]{1,5}$/, 'host:port, e.g. 0.0.0.0:8080')
    .default('0.0.0.0:8080')
    .describe('address of the REST API, probes and metrics'),
  auth: z.enum(['kubernetes', 'none']).default('kubernetes').describe('REST API auth: TokenReview+SAR, or none'),
  leaderElect: z.boolean().default(true).describe('one replica acts at a time, through a Lease (true or false)'),
  leaseNamespace: z.string().min(1).default('default').describe('namespace of the leader Lease'),
  leaseName: z.string().min(1).default('simclr-operator').describe('name of the leader Lease'),
  identity: z.string().min(1).default(`${hostname()}-${process.pid}`).describe('this replica\'s name in the Lease'),
  leaseDurationSeconds: z.coerce.number().int().min(2).default(15).describe('how long a lease holds without renewal'),
  renewDeadlineSeconds: z.coerce.number().int().min(1).default(10).describe('the leader gives up (and exits) when it cannot renew within this'),
  retryPeriodSeconds: z.coerce.number().min(0.05).default(2).describe('how often to try to acquire or renew the lease'),
  workers: z.coerce.number().int().min(1).max(64).default(4).describe('jobs reconciled in parallel'),
  progressIntervalSeconds: z.coerce.number().min(1).default(15).describe('how often each running job\'s progress is polled into its status'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('minimum level of the JSON logs'),
  operatorPodLabels: z
    .string()
    .regex(/^([A-Za-z0-9./_-]+=[A-Za-z0-9._-]*)(,[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*)*$/, 'key=value[,key=value...]')
    .optional()
    .describe('labels of the operator\'s pods, which each job\'s NetworkPolicy lets reach the progress port; ' +
      'default: every pod of the operator\'s namespace (--lease-namespace)'),
  tokenAudience: z
    .string()
    .min(1)
    .optional()
    .describe('REST API auth accepts only tokens minted for this audience; default: the apiserver\'s'),
  tlsCertFile: z.string().min(1).optional().describe('PEM certificate (chain) of the REST API and metrics; default: plain HTTP'),
  tlsKeyFile: z.string().min(1).optional().describe('PEM private key of --tls-cert-file'),
  extraVolumeKinds: z
    .string()
    .transform((s) => s.split(',').map((k) => k.trim()).filter((k) => k !== ''))
    .pipe(z.array(z.enum(ADMIN_VOLUME_SOURCE_KINDS)))
    .default([])
    .describe('volume kinds jobs may mount beyond persistentVolumeClaim, emptyDir, configMap, secret, nfs, csi ' +
      '(comma-separated, e.g. hostPath); the chart sets it from jobs.extraVolumeKinds'),
}).refine((c) => c.renewDeadlineSeconds < c.leaseDurationSeconds, {
  message: 'renew-deadline-seconds must be below lease-duration-seconds',
  path: ['renewDeadlineSeconds'],
}).refine((c) => (c.tlsCertFile === undefined) === (c.tlsKeyFile === undefined), {
  message: 'tls-cert-file and tls-key-file go together: set both (HTTPS) or neither (plain HTTP)',
  path: ['tlsCertFile'],
});
export type Config = z.infer<typeof Config>;

const FLAGS = {
  kubeconfig: { type: 'string', env: 'KUBECONFIG' },
  namespace: { type: 'string', env: 'WATCH_NAMESPACE' },
  listen: { type: 'string', env: 'SIMCLR_LISTEN' },
  auth: { type: 'string', env: 'SIMCLR_AUTH' },
  'leader-elect': { type: 'string', env: 'SIMCLR_LEADER_ELECT' },
  'lease-namespace': { type: 'string', env: 'POD_NAMESPACE' },
  'lease-name': { type: 'string', env: 'SIMCLR_LEASE_NAME' },
  identity: { type: 'string', env: 'POD_NAME' },
  'lease-duration-seconds': { type: 'string', env: undefined },
  'renew-deadline-seconds': { type: 'string', env: undefined },
  'retry-period-seconds': { type: 'string', env: undefined },
  workers: { type: 'string', env: undefined },
  'progress-interval-seconds': { type: 'string', env: undefined },
  'log-level': { type: 'string', env: 'LOG_LEVEL' },
  'operator-pod-labels': { type: 'string', env: 'SIMCLR_OPERATOR_POD_LABELS' },
  'token-audience': { type: 'string', env: 'SIMCLR_TOKEN_AUDIENCE' },
  'tls-cert-file': { type: 'string', env: 'SIMCLR_TLS_CERT_FILE' },
  'tls-key-file': { type: 'string', env: 'SIMCLR_TLS_KEY_FILE' },
  'extra-volume-kinds': { type: 'string', env: 'SIMCLR_EXTRA_VOLUME_KINDS' },
} as const;

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Whether the arguments ask for --help (checked before parsing, so it works beside a bad flag too). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** The --help text: every flag with its environment variable, default and description, from the schema. */
export function helpText(): string {
  const fields = Config.shape as Record<string, z.ZodType>;
  const lines = ['Usage: simclr-operator [--flag=value ...]', '', 'Flags (each also read from the environment variable shown; a flag wins):'];
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const field = fields[camel(flag)];
    const fallback = flag === 'identity' ? '<hostname>-<pid>' : defaultOf(field);
    const about = [field?.description, fallback !== undefined ? `default: ${fallback}` : undefined, spec.env ? `env ${spec.env}` : undefined];
    lines.push(`  --${flag}`.padEnd(30) + about.filter((x) => x !== undefined).join('; '));
  }
  return `${lines.join('\n')}\n`;
}

function defaultOf(field: z.ZodType | undefined): string | undefined {
  if (!(field instanceof z.ZodDefault)) return undefined;
  const value: unknown = field.def.defaultValue;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  return String(value);
}

/** Flags win over env; `--leader-elect=false` style booleans. Throws with every problem listed. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): Config {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type }])),
    strict: true,
    allowPositionals: false,
  });
  const raw: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const v = (values as Record<string, string | undefined>)[flag] ?? (spec.env ? env[spec.env] : undefined);
    if (v !== undefined && v !== '') raw[camel(flag)] = v;
  }
  if (typeof raw.leaderElect === 'string') {
    if (!['true', 'false'].includes(raw.leaderElect)) throw new Error('--leader-elect must be true or false');
    raw.leaderElect = raw.leaderElect === 'true';
  }
  const r = Config.safeParse(raw);
  if (!r.success) throw new Error(`invalid configuration:\n${z.prettifyError(r.error)}`, { cause: r.error });
  return r.data;
}
