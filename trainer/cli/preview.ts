// simclr preview: writes a grid of augmented pairs as a PNG, so people can see their augmentations (the same
// ones training uses, from the same flags) before paying for a cluster. Takes the train flags plus --out and
// --n; with --data-dir and no --dataset, the data set is what the folder holds (as train infers it).
import { writeFile } from 'node:fs/promises';
import { ConfigError, parseArgs, type TrainConfig } from '../contract/index.js';
import { ContrastiveLoader, augmentationPairGrid, openDataset, trainingAugmentParams, withResolvedDataset, type PngImage } from '../data/index.js';

export const PREVIEW_HELP = `Usage: simclr preview --data-dir=<dir> --out=<grid.png> [--n=16] [--dataset=<name>] [train flags]

Writes n pairs of augmented views (view 1 | view 2 side by side, 4 pairs a row) of training images as a PNG,
made exactly as training makes them: --seed picks the images and the augmentations, and the augmentation flags
apply (--image-size-override, --color-jitter-strength, --crop-scale-min). With --data-dir and no --dataset,
the data set is what the folder holds, as simclr train infers it (e.g. an ImageFolder: train/ and test/, one folder
per class).`;

interface PreviewArgs {
  out: string;
  n: number;
  config: TrainConfig;
}

/** Takes --out and --n out of argv (either --name=value or --name value); the rest are train flags. */
export function parsePreviewArgs(argv: readonly string[]): PreviewArgs {
  const rest: string[] = [];
  const own = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(out|n)(?:=(.*))?$/.exec(argv[i]);
    if (m === null) {
      rest.push(argv[i]);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${m[1]} needs a value`, m[1]);
    own.set(m[1], value);
  }
  const out = own.get('out');
  if (out === undefined || !out.endsWith('.png')) throw new ConfigError('--out is required: a path ending in .png', 'out');
  const n = Number(own.get('n') ?? 16);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new ConfigError(`--n=${own.get('n')} is not valid: use an integer in [1, 1024]`, 'n');
  const config = parseArgs(rest, {});
  return { out, n, config };
}

/** The grid for `config`'s training set: the first n images of the seed's first epoch, both views. */
export async function previewGrid(config: TrainConfig, n: number, onWarning?: (message: string) => void): Promise<PngImage> {
  const source = { name: config.dataset, dir: config.dataDir, seed: config.seed, imageSize: config.imageSizeOverride, onWarning };
  // A folder that is missing, empty or in the wrong layout is the user's --data-dir: one line, exit 2.
  const ds = await openDataset(source, 'train').catch((err: unknown) => {
    throw new ConfigError((err as Error).message, 'data-dir');
  });
  if (ds.length < n) throw new ConfigError(`--n=${n} is more than the ${ds.length} training images: use at most ${ds.length}`, 'n');
  const loader = new ContrastiveLoader(ds, { globalBatchSize: n, seed: config.seed, augment: trainingAugmentParams(ds, config) });
  return augmentationPairGrid(await loader.batch(0, 0), n, ds.normalization);
}

export async function cmdPreview(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PREVIEW_HELP + '\n');
    return;
  }
  const parsed = parsePreviewArgs(argv);
  const { out, n } = parsed;
  const { config } = await withResolvedDataset(parsed.config);
  const grid = await previewGrid(config, n, (m) => process.stderr.write(`${m}\n`));
  await writeFile(out, grid.png);
  process.stdout.write(`wrote ${out}: ${n} augmented pairs of ${config.dataset}, ${grid.width}x${grid.height} px\n`);
}
