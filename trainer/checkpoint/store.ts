// A folder of checkpoints. Each checkpoint is two files:
//   step-<step>.safetensors  weights ("weights/<name>"), optimizer state ("optimizer/<name>") and, with --polyak-ema,
//                            the averaged weights ("ema/<name>")
//   step-<step>.json         the manifest: step, epoch, RNG state, config, size and sha256 of the tensors
// Both are written atomically, tensors first; the manifest's rename is the commit point, so a crash at
// any moment leaves either the previous checkpoint set or the new one. On load, a checkpoint whose
// manifest is unreadable or whose tensor file differs in size or sha256 is skipped with a warning.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TEMP_MARKER, writeFileAtomic } from './atomic-file.js';
import { decodeSafetensors, encodeSafetensors, type Tensor, type TensorMap } from './safetensors.js';

const FORMAT = 'simclr-checkpoint';
const WEIGHTS_PREFIX = 'weights/';
const OPTIMIZER_PREFIX = 'optimizer/';
const EMA_PREFIX = 'ema/';
const NAME_PATTERN = /^step-(\d{10})\.(json|safetensors)$/;

export interface CheckpointData {
  step: number;
  epoch: number;
  weights: TensorMap;
  optimizer: TensorMap;
  /** The Polyak average of the weights (--polyak-ema); absent when the run keeps none. */
  ema?: TensorMap;
  /** Serialisable RNG state(s), e.g. Rng.state(). */
  rng: unknown;
  /** The run's TrainConfig (JSON). */
  config: unknown;
  /** Anything else JSON the trainer needs to resume (running averages, best top-1, ...). */
  extra?: Record<string, unknown>;
}

const Manifest = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  step: z.number().int().min(0),
  epoch: z.number().int().min(0),
  createdAt: z.string(),
  tensorFile: z.string().regex(NAME_PATTERN),
  bytes: z.number().int().min(8),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rng: z.unknown(),
  config: z.unknown(),
  extra: z.record(z.string(), z.unknown()).default({}),
});
export type Manifest = z.infer<typeof Manifest>;

export interface LoadedCheckpoint extends CheckpointData {
  manifestPath: string;
  tensorPath: string;
  createdAt: string;
}

export interface SavedCheckpoint {
  manifestPath: string;
  tensorPath: string;
  step: number;
  epoch: number;
  bytes: number;
  sha256: string;
  createdAt: string;
}

export type WarningSink = (message: string) => void;
const defaultWarn: WarningSink = (message) => process.emitWarning(message, 'CheckpointWarning');

export const baseName = (step: number): string => `step-${String(step).padStart(10, '0')}`;

function prefixed(prefix: string, map: TensorMap): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(map)) out[prefix + name] = t;
  return out;
}

function unprefixed(prefix: string, map: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(map)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = t;
  return out;
}

/**
 * Write checkpoint `data` into `dir` atomically, then keep only the newest `keep` checkpoints
 * (and remove temp files left by a crashed writer).
 */
export async function saveCheckpoint(
  dir: string,
  data: CheckpointData,
  opts: { keep?: number; protect?: readonly number[]; onWarning?: WarningSink } = {},
): Promise<SavedCheckpoint> {
  if (!Number.isInteger(data.step) || data.step < 0 || data.step >= 1e10) throw new RangeError(`checkpoint step ${data.step} is not in [0, 1e10)`);
  await mkdir(dir, { recursive: true });
  const base = baseName(data.step);
  const tensorFile = `${base}.safetensors`;
  const tensorPath = join(dir, tensorFile);
  const manifestPath = join(dir, `${base}.json`);
  const createdAt = new Date().toISOString();
  const chunks = encodeSafetensors(
    { ...prefixed(WEIGHTS_PREFIX, data.weights), ...prefixed(OPTIMIZER_PREFIX, data.optimizer), ...prefixed(EMA_PREFIX, data.ema ?? {}) },
    { format: FORMAT, step: String(data.step), epoch: String(data.epoch) },
  );
  try {
    const { bytes, sha256 } = await writeFileAtomic(tensorPath, chunks);
    const manifest: Manifest = {
      format: FORMAT,
      version: 1,
      step: data.step,
      epoch: data.epoch,
      createdAt,
      tensorFile,
      bytes,
      sha256,
      rng: data.rng,
      config: data.config,
      extra: data.extra ?? {},
    };
    await writeFileAtomic(manifestPath, [Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]);
    await pruneCheckpoints(dir, opts.keep ?? Infinity, opts.onWarning, opts.protect);
    return { manifestPath, tensorPath, step: data.step, epoch: data.epoch, bytes, sha256, createdAt };
  } catch (err) {
    throw new Error(`saving checkpoint step ${data.step} to ${dir} failed`, { cause: err });
  }
}

/** Manifest paths in `dir`, newest step first (not validated). */
export async function listManifests(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot list checkpoints in ${dir}`, { cause: err });
  }
  return names
    .filter((n) => NAME_PATTERN.exec(n)?.[2] === 'json')
    .sort()
    .reverse()
    .map((n) => join(dir, n));
}

/** The manifest path of the checkpoint of `step` in `dir` (whether or not it exists). */
export function manifestPathOf(dir: string, step: number): string {
  return join(dir, `${baseName(step)}.json`);
}

/** Load and fully verify one checkpoint; throws with the reason when it is not valid. */
export async function loadCheckpoint(manifestPath: string): Promise<LoadedCheckpoint> {
  let manifest: Manifest;
  try {
    manifest = Manifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  } catch (err) {
    throw new Error(`${manifestPath}: unreadable or invalid manifest`, { cause: err });
  }
  const tensorPath = join(manifestPath, '..', manifest.tensorFile);
  let file: Buffer;
  try {
    file = await readFile(tensorPath);
  } catch (err) {
    throw new Error(`${tensorPath}: missing tensor file`, { cause: err });
  }
  if (file.length !== manifest.bytes) throw new Error(`${tensorPath}: ${file.length} bytes, manifest says ${manifest.bytes} (truncated?)`);
  const sha256 = createHash('sha256').update(file).digest('hex');
  if (sha256 !== manifest.sha256) throw new Error(`${tensorPath}: sha256 ${sha256} does not match the manifest's ${manifest.sha256} (corrupt)`);
  const { tensors } = decodeSafetensors(file, tensorPath);
  const ema = unprefixed(EMA_PREFIX, tensors);
  return {
    manifestPath,
    tensorPath,
    createdAt: manifest.createdAt,
    step: manifest.step,
    epoch: manifest.epoch,
    rng: manifest.rng,
    config: manifest.config,
    extra: manifest.extra,
    weights: unprefixed(WEIGHTS_PREFIX, tensors),
    optimizer: unprefixed(OPTIMIZER_PREFIX, tensors),
    ...(Object.keys(ema).length > 0 ? { ema } : {}),
  };
}

/** An error and its causes, as one line. */
export function reasonOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}

/** The newest checkpoint in `dir` that verifies, or undefined; invalid ones are skipped with a warning. */
export async function latestValid(dir: string, onWarning: WarningSink = defaultWarn): Promise<LoadedCheckpoint | undefined> {
  for (const manifestPath of await listManifests(dir)) {
    try {
      return await loadCheckpoint(manifestPath);
    } catch (err) {
      onWarning(`skipping invalid checkpoint: ${reasonOf(err)}`);
    }
  }
  return undefined;
}

/**
 * Keep the newest `keep` checkpoints and those of the `protect` steps (--early-stop's best); delete older ones, temp
 * files of crashed writers and tensor files without a manifest. Goes by file names only (a corrupt kept one is still
 * skipped at load).
 */
export async function pruneCheckpoints(
  dir: string,
  keep: number,
  onWarning: WarningSink = defaultWarn,
  protect: readonly number[] = [],
): Promise<string[]> {
  const names = await readdir(dir);
  const manifests = names.filter((n) => NAME_PATTERN.exec(n)?.[2] === 'json').sort().reverse();
  const kept = new Set([...manifests.slice(0, keep).map((n) => n.replace(/\.json$/, '')), ...protect.map(baseName)]);
  const doomed = names.filter((n) => {
    if (n.includes(TEMP_MARKER)) return !n.includes(`${TEMP_MARKER}${process.pid}-`); // not our in-flight write
    const match = NAME_PATTERN.exec(n);
    return match !== null && !kept.has(n.replace(/\.(json|safetensors)$/, ''));
  });
  const deleted: string[] = [];
  for (const name of doomed) {
    try {
      await unlink(join(dir, name));
      deleted.push(name);
    } catch (err) {
      onWarning(`could not delete old checkpoint file ${join(dir, name)}: ${reasonOf(err)}`);
    }
  }
  return deleted;
}
