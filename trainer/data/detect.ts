// Which data set a --data-dir holds, for runs that give --data-dir without --dataset (the seed's users pass only
// --data-dir). Decided from the files each reader needs, never from the folder's name, so a folder that would fail
// to open under the inferred name is an error here, before any work. Fashion-MNIST and MNIST share the IDX format
// and the file names; they differ only in normalisation and class names, so the mean pixel (which fixes the
// normalisation) decides between them.
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DataError } from './errors.js';

/** The --dataset value that asks for inference. */
export const AUTO_DATASET = 'auto';

/** A concrete data set name inference can give. */
export type DetectedDataset = 'imagefolder' | 'cifar10' | 'cifar100' | 'fashion-mnist' | 'mnist';

export interface Detection {
  dataset: DetectedDataset;
  /** Why: the files that decided it (for the log line). */
  evidence: string;
}

// Published training-set means on [0, 1]: MNIST 0.1307 (thin strokes on black), Fashion-MNIST 0.2860 (garments fill
// the frame). Halfway between is the boundary.
const MNIST_FASHION_BOUNDARY = (0.1307 + 0.286) / 2;
/** Images read for the mean: enough for a stable estimate (Fashion-MNIST's first 1000: 0.28), cheap to read. */
const MEAN_SAMPLE_IMAGES = 1000;

const CIFAR_BINARY: ReadonlyArray<{ dataset: DetectedDataset; file: string; folder: string }> = [
  { dataset: 'cifar10', file: 'data_batch_1.bin', folder: 'cifar-10-batches-bin' },
  { dataset: 'cifar100', file: 'train.bin', folder: 'cifar-100-binary' },
];
const CIFAR_PYTHON: ReadonlyArray<{ name: string; marker: string; folder: string }> = [
  { name: 'CIFAR-10', marker: 'data_batch_1', folder: 'cifar-10-batches-py' },
  { name: 'CIFAR-100', marker: 'meta', folder: 'cifar-100-python' },
];
const IDX_TRAIN_IMAGES = ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte'];

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Mean pixel (on [0, 1]) of the first images of an IDX image file, gzipped or not: reads only what it needs.
 * Shapes: header 16 bytes (magic, n, rows, cols), then n x rows x cols bytes.
 */
export async function idxMeanPixel(path: string, maxImages = MEAN_SAMPLE_IMAGES): Promise<number> {
  const head = Buffer.alloc(2);
  const fh = await open(path, 'r');
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  const raw = createReadStream(path);
  const stream = gzipped ? raw.pipe(createGunzip()) : raw;
  const chunks: Buffer[] = [];
  let have = 0;
  let need = 16;
  const notIdx = new Error(`${path}: not an IDX image file (bad magic bytes)`);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= 16 && need === 16) {
        const head = Buffer.concat(chunks);
        if (head.readUInt32BE(0) !== 0x00000803) throw notIdx;
        need = 16 + Math.min(head.readUInt32BE(4), maxImages) * head.readUInt32BE(8) * head.readUInt32BE(12);
      }
      if (need > 16 && have >= need) break;
    }
  } catch (err) {
    throw err === notIdx ? err : new Error(`${path}: corrupt gzip data (${(err as Error).message})`, { cause: err });
  } finally {
    raw.destroy();
  }
  if (have < 16) throw notIdx;
  const bytes = Buffer.concat(chunks).subarray(16, need);
  if (bytes.length === 0 || bytes.length < need - 16) throw new Error(`${path}: truncated IDX image file`);
  let sum = 0;
  for (const v of bytes) sum += v;
  return sum / (bytes.length * 255);
}

async function detectIdx(dir: string): Promise<Detection | undefined> {
  for (const name of IDX_TRAIN_IMAGES) {
    const path = join(dir, name);
    if ((await kind(path)) !== 'file') continue;
    const mean = await idxMeanPixel(path);
    const dataset = mean < MNIST_FASHION_BOUNDARY ? 'mnist' : 'fashion-mnist';
    return { dataset, evidence: `IDX files (${name}, mean pixel ${mean.toFixed(3)}: ${dataset === 'mnist' ? 'MNIST 0.131' : 'Fashion-MNIST 0.286'} is nearer)` };
  }
  return undefined;
}

async function detectCifar(dir: string): Promise<Detection | undefined> {
  for (const c of CIFAR_BINARY) {
    for (const root of [dir, join(dir, c.folder)]) {
      const path = join(root, c.file);
      if ((await kind(path)) === 'file') return { dataset: c.dataset, evidence: `CIFAR binary batches (${path})` };
    }
  }
  for (const c of CIFAR_PYTHON) {
    const inside = (await kind(join(dir, c.folder))) === 'dir';
    const here = (await kind(join(dir, c.marker))) === 'file' && (await kind(join(dir, c.marker === 'meta' ? 'train' : 'batches.meta'))) === 'file';
    if (inside || here) {
      const archive = c.name === 'CIFAR-10' ? 'cifar-10-binary.tar.gz' : 'cifar-100-binary.tar.gz';
      throw new DataError(
        `--data-dir=${dir} holds the ${c.name} python (pickle) batches, which this trainer does not read: unpack the ` +
          `binary version (${archive}, https://www.cs.toronto.edu/~kriz/cifar.html) there and pass --dataset=${c.name === 'CIFAR-10' ? 'cifar10' : 'cifar100'}`,
      );
    }
  }
  return undefined;
}

/**
 * The data set in `dir`: an ImageFolder (train/ a folder; test/ is checked when it opens), CIFAR-10/100 binary batches
 * (in `dir` or the archive's folder inside it), or (Fashion-)MNIST IDX files.
 * @throws DataError, one line naming --data-dir and --dataset, when the folder is missing or none of these.
 */
export async function detectDataset(dir: string): Promise<Detection> {
  const what = await kind(dir);
  if (what !== 'dir') {
    throw new DataError(`--data-dir=${dir} ${what === undefined ? 'does not exist' : 'is not a folder'}: point it at the data set folder (or drop it and pass --dataset)`);
  }
  if ((await kind(join(dir, 'train'))) === 'dir') return { dataset: 'imagefolder', evidence: `ImageFolder (${join(dir, 'train')}/)` };
  const found = (await detectCifar(dir)) ?? (await detectIdx(dir));
  if (found !== undefined) return found;
  const entries = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const shown = entries.length === 0 ? 'it is empty' : `it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}`;
  throw new DataError(
    `--data-dir=${dir} is no data set this trainer can recognise (${shown}): it needs train/ and test/ class folders ` +
      '(ImageFolder), train-images-idx3-ubyte[.gz] (IDX), or CIFAR binary batches; fix --data-dir, or pass --dataset ' +
      'to say which data set it is',
  );
}

/** `name` itself, or with `auto` what `dir` holds (Fashion-MNIST's default folder without a dir). */
export async function resolveDatasetName(name: string, dir: string | undefined): Promise<{ name: string; evidence?: string }> {
  if (name !== AUTO_DATASET) return { name };
  if (dir === undefined) return { name: 'fashion-mnist', evidence: 'no --data-dir: the default data set' };
  const d = await detectDataset(dir);
  return { name: d.dataset, evidence: d.evidence };
}

/** `config` with its --dataset resolved (auto -> what --data-dir holds), and why, for a log line. Errors are DataErrors. */
export async function withResolvedDataset<T extends { dataset: string; dataDir?: string }>(
  config: T,
): Promise<{ config: T; evidence?: string }> {
  try {
    const { name, evidence } = await resolveDatasetName(config.dataset, config.dataDir);
    return { config: { ...config, dataset: name as T['dataset'] }, evidence };
  } catch (err) {
    throw err instanceof DataError ? err : new DataError((err as Error).message, { cause: err });
  }
}
