/**
 * Where this replica sits in the job: rank, world size and the rank-0 rendezvous address, from the seed's flags
 * (--num-replicas --distributed-rank --distributed-master --distributed-port) and the torch.distributed env
 * (WORLD_SIZE RANK MASTER_ADDR MASTER_PORT). A flag is used when given, else its env variable, else the default;
 * a flag and an env variable that are both given and disagree are an error naming both.
 * Pure: takes plain values, reads no process state, so the CLI contract can call it with what it parsed.
 */
import { DistError } from './errors.js';

export interface DistFlags {
  numReplicas?: number;
  distributedRank?: number;
  distributedMaster?: string;
  distributedPort?: number;
}

export type DistEnv = Readonly<Partial<Record<'RANK' | 'WORLD_SIZE' | 'MASTER_ADDR' | 'MASTER_PORT', string>>>;

export interface DistConfig {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
}

/** The seed's defaults: one replica, rendezvous on loopback port 29300. */
export const DIST_DEFAULTS: DistConfig = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 29300 };

interface Field<K extends keyof DistConfig> {
  key: K;
  flag: string;
  env: keyof DistEnv;
  parse: (raw: string, where: string) => DistConfig[K];
}

function parseInteger(raw: string, where: string): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new DistError('DIST_CONFIG', `${where} is not a non-negative integer`);
  return Number(text);
}

function parseHost(raw: string, where: string): string {
  const text = raw.trim();
  if (text === '') throw new DistError('DIST_CONFIG', `${where} is empty: give rank 0's host name or address`);
  return text;
}

const FIELDS = [
  { key: 'worldSize', flag: 'num-replicas', env: 'WORLD_SIZE', parse: parseInteger },
  { key: 'rank', flag: 'distributed-rank', env: 'RANK', parse: parseInteger },
  { key: 'masterAddr', flag: 'distributed-master', env: 'MASTER_ADDR', parse: parseHost },
  { key: 'masterPort', flag: 'distributed-port', env: 'MASTER_PORT', parse: parseInteger },
] as const satisfies readonly Field<keyof DistConfig>[];

const FLAG_KEYS: Record<keyof DistConfig, keyof DistFlags> = {
  worldSize: 'numReplicas',
  rank: 'distributedRank',
  masterAddr: 'distributedMaster',
  masterPort: 'distributedPort',
};

function pick<K extends keyof DistConfig>(field: Field<K>, flags: DistFlags, env: DistEnv): DistConfig[K] {
  const flagValue = flags[FLAG_KEYS[field.key]];
  const envRaw = env[field.env];
  const fromEnv =
    envRaw === undefined || envRaw.trim() === '' ? undefined : field.parse(envRaw, `env ${field.env}=${envRaw}`);
  if (flagValue === undefined) return fromEnv ?? DIST_DEFAULTS[field.key];
  const fromFlag = field.parse(String(flagValue), `--${field.flag}=${flagValue}`);
  if (fromEnv !== undefined && fromEnv !== fromFlag) {
    throw new DistError(
      'DIST_CONFIG',
      `--${field.flag}=${flagValue} disagrees with env ${field.env}=${envRaw}: drop one or make them equal`,
    );
  }
  return fromFlag;
}

/** Resolves and checks the distributed config; throws DistError('DIST_CONFIG') naming the offending sources. */
export function resolveDistConfig(flags: DistFlags, env: DistEnv): DistConfig {
  const c: DistConfig = { ...DIST_DEFAULTS };
  for (const field of FIELDS) {
    (c as unknown as Record<string, unknown>)[field.key] = pick(field as Field<keyof DistConfig>, flags, env);
  }
  if (c.worldSize < 1) throw new DistError('DIST_CONFIG', `--num-replicas / WORLD_SIZE must be at least 1, got ${c.worldSize}`);
  if (c.rank >= c.worldSize) {
    throw new DistError(
      'DIST_CONFIG',
      `rank ${c.rank} (--distributed-rank / RANK) must be below the world size ${c.worldSize} (--num-replicas / WORLD_SIZE)`,
    );
  }
  if (c.masterPort < 1 || c.masterPort > 65535) {
    throw new DistError('DIST_CONFIG', `port ${c.masterPort} (--distributed-port / MASTER_PORT) is not in [1, 65535]`);
  }
  return c;
}
