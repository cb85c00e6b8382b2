// CIFAR-10 and CIFAR-100 from their binary distributions (https://www.cs.toronto.edu/~kriz/cifar.html):
// fixed-size records of label byte(s) + 3072 pixel bytes, 32x32, channel planes (R, G, B) one after another.
// CIFAR-10: data_batch_{1..5}.bin + test_batch.bin, record = label + pixels; class names in batches.meta.txt.
// CIFAR-100: train.bin + test.bin, record = coarse label + fine label + pixels (we train on the fine label);
// class names in fine_label_names.txt. Pixels are transposed to HWC on load, as the Dataset interface wants.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkIndex, type InMemoryDataset, type Normalization, type Sample, type FixedSplit } from './dataset.js';

export type CifarFamily = 'cifar10' | 'cifar100';

export const CIFAR_SIDE = 32;
const PIXELS = CIFAR_SIDE * CIFAR_SIDE * 3;

interface Layout {
  labelBytes: number;
  /** Which label byte to use. */
  labelByte: number;
  numClasses: number;
  files: Record<FixedSplit, readonly string[]>;
  namesFile: string;
  /** The folder the official archive unpacks to, tried under --data-dir. */
  archiveFolder: string;
  normalization: Normalization;
}

// Training-set statistics on the [0, 1] scale (the commonly used values).
const LAYOUTS: Record<CifarFamily, Layout> = {
  cifar10: {
    labelBytes: 1,
    labelByte: 0,
    numClasses: 10,
    files: { train: [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`), test: ['test_batch.bin'] },
    namesFile: 'batches.meta.txt',
    archiveFolder: 'cifar-10-batches-bin',
    normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  },
  cifar100: {
    labelBytes: 2,
    labelByte: 1,
    numClasses: 100,
    files: { train: ['train.bin'], test: ['test.bin'] },
    namesFile: 'fine_label_names.txt',
    archiveFolder: 'cifar-100-binary',
    normalization: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  },
};

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** --data-dir itself, or the archive's folder inside it, whichever holds the split's first file. */
async function findRoot(dir: string, layout: Layout, split: FixedSplit, family: CifarFamily): Promise<string> {
  for (const root of [dir, join(dir, layout.archiveFolder)]) {
    if (await exists(join(root, layout.files[split][0]))) return root;
  }
  throw new Error(
    `${family}: no ${layout.files[split][0]} in ${dir} or ${join(dir, layout.archiveFolder)}: ` +
      `--data-dir must hold the binary version of the data set (the *-binary.tar.gz archive, unpacked)`,
  );
}

/** Record bytes -> HWC pixels and labels. Shapes: records [N, labelBytes + 3*32*32] -> pixels [N, 32, 32, 3]. */
export function parseCifarRecords(bytes: Uint8Array, layout: Pick<Layout, 'labelBytes' | 'labelByte' | 'numClasses'>, path: string): { pixels: Uint8Array; labels: Uint8Array } {
  const recordSize = layout.labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % recordSize !== 0) {
    throw new Error(`${path}: ${bytes.length} bytes is not a whole number of ${recordSize}-byte CIFAR records`);
  }
  const n = bytes.length / recordSize;
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  const plane = CIFAR_SIDE * CIFAR_SIDE;
  for (let r = 0; r < n; r++) {
    const rec = r * recordSize;
    const label = bytes[rec + layout.labelByte];
    if (label >= layout.numClasses) throw new Error(`${path}: record ${r} has label ${label}, not in 0..${layout.numClasses - 1}`);
    labels[r] = label;
    const src = rec + layout.labelBytes;
    const dst = r * PIXELS;
    for (let i = 0; i < plane; i++) {
      pixels[dst + 3 * i] = bytes[src + i];
      pixels[dst + 3 * i + 1] = bytes[src + plane + i];
      pixels[dst + 3 * i + 2] = bytes[src + 2 * plane + i];
    }
  }
  return { pixels, labels };
}

class CifarDataset implements InMemoryDataset {
  readonly channels = 3;
  readonly height = CIFAR_SIDE;
  readonly width = CIFAR_SIDE;
  readonly length: number;
  constructor(
    readonly name: CifarFamily,
    readonly split: FixedSplit,
    readonly numClasses: number,
    private readonly pixels: Uint8Array,
    private readonly labels: Uint8Array,
    readonly classNames: readonly string[] | undefined,
    readonly normalization: Normalization,
  ) {
    this.length = labels.length;
  }

  label(i: number): number {
    checkIndex(this, i);
    return this.labels[i];
  }

  getSync(i: number): Sample {
    checkIndex(this, i);
    return { image: this.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), height: CIFAR_SIDE, width: CIFAR_SIDE, label: this.labels[i] };
  }

  get(i: number): Promise<Sample> {
    try {
      return Promise.resolve(this.getSync(i));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

export interface CifarOptions {
  family: CifarFamily;
  split: FixedSplit;
  dir: string;
}

/** Load one split into memory (150 MB of HWC pixels for either training set). */
export async function loadCifar(opts: CifarOptions): Promise<InMemoryDataset> {
  const layout = LAYOUTS[opts.family];
  const root = await findRoot(opts.dir, layout, opts.split, opts.family);
  const parts = await Promise.all(
    layout.files[opts.split].map(async (file) => {
      const path = join(root, file);
      const bytes = await readFile(path).catch((err: unknown) => {
        throw new Error(`${opts.family}: cannot read ${path}`, { cause: err });
      });
      return parseCifarRecords(bytes, layout, path);
    }),
  );
  const n = parts.reduce((sum, p) => sum + p.labels.length, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  const namesPath = join(root, layout.namesFile);
  const names = (await exists(namesPath)) ? (await readFile(namesPath, 'utf8')).split('\n').map((s) => s.trim()).filter((s) => s !== '') : undefined;
  const classNames = names?.length === layout.numClasses ? names : undefined;
  return new CifarDataset(opts.family, opts.split, layout.numClasses, pixels, labels, classNames, layout.normalization);
}
