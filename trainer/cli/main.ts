#!/usr/bin/env node
// simclr: the trainer's command line.
//   simclr train [flags]      train (flags: see `simclr train --help`)
//   simclr export [flags]     newest checkpoint of <model-dir>/<uid> -> standalone ONNX encoder
//   simclr embed [flags]      exported encoder on a data set split or IDX file -> .npy / .json
//   simclr baseline [flags]   random-init encoder and raw pixels under the same kNN / linear-probe protocol
//   simclr preview [flags]    a PNG grid of augmented pairs, made as training makes them
//   simclr launch --nproc=N train [flags]   N local replicas of train (torchrun-style)
// Exit codes: 0 ok, 1 runtime failure, 2 bad command line or data (one line naming the flag or the file; also written
// as the container's termination message in a pod), 75 a peer or the master lost (a gang restart gets past it), 143
// train stopped by SIGTERM after checkpointing (a resume loses no step).
import { join } from 'node:path';
import { parseArgs as parseNodeArgs } from 'node:util';
import {
  ConfigError,
  EXIT_CONFIG_OR_DATA,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_PEER_LOST,
  EXIT_STOPPED,
  finalProgressMessage,
  helpText,
  parseArgs,
} from '../contract/index.js';
import { DataError, withResolvedDataset } from '../data/index.js';
import { DistError } from '../collectives/index.js';
import { NoDeviceKernelError, ProviderUnavailableError } from '../engine/index.js';
import { createLogger } from '../observe/index.js';
import { embedImages, writeEmbeddings } from '../train/encoder/embed.js';
import { exportFromDir } from '../train/encoder/export.js';
import { baselines } from '../train/evaluation/baseline.js';
import { generatedUid, train } from '../train/loop.js';
import { LAUNCH_HELP, LaunchUsageError, launch, parseLaunchArgs } from './launch.js';
import { cmdPreview } from './preview.js';
import { writeTerminationMessage } from './termination-message.js';

class UsageError extends Error {}

const USAGE = `Usage: simclr <command> [--flag=value ...]

Commands:
  train      Pre-train SimCLR (see simclr train --help).
  export     Write the encoder of the newest checkpoint as a standalone ONNX model (see simclr export --help).
  embed      Run an exported encoder on images and write embeddings (see simclr embed --help).
  baseline   Score a randomly initialised encoder and raw pixels (and a --weight-initialization encoder) with the same kNN and linear probe
             (takes the train flags).
  preview    Write a PNG grid of augmented pairs, as training makes them (see simclr preview --help).
  launch     Train with several replicas on this machine, like torchrun (see simclr launch --help).`;

const EXPORT_HELP = `Usage: simclr export --uid=<run> [--model-dir=./models] --out=<path.onnx>

Writes the encoder (eval mode, up to the representation h) of the newest valid checkpoint in <model-dir>/<uid>
as a standalone ONNX model. Input x [N, C, H, W] float32, output h [N, D]; the input contract (size, channels,
value range, normalisation mean/std) is in the model's metadata_props (simclr.*).`;

const EMBED_HELP = `Usage: simclr embed --model=<path.onnx> (--dataset=<name> [--data-dir=<dir>] [--split=test|train|valid] | --idx=<file>)
                    --out=<file.npy|file.json> [--limit=<n>] [--batch-size=256] [--threads=<n>]

Runs an exported encoder on every image (resized to the model's input size, normalised as its metadata says)
and writes the embeddings: .npy (float32 [N, D]) or .json ({ shape, labels, embeddings }).`;

function nodeFlags(argv: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): Record<string, string | boolean | undefined> {
  try {
    return parseNodeArgs({ args: [...argv], options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

function positiveInt(flag: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}=${String(v)} is not valid: use a positive integer`);
  return n;
}

async function cmdTrain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('simclr train') + '\n');
    return EXIT_OK;
  }
  const config = parseArgs(argv, process.env);
  const withUid = { ...config, uid: config.uid ?? generatedUid() };
  // SIGTERM (suspend, pod deletion, drain) stops every rank at the next step, checkpointed; a second one kills.
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  const result = await train(withUid, { stopSignal: stop.signal });
  if (result.stopped) {
    const line = `simclr train: stopped on request at step ${result.step}, checkpointed in ${result.checkpointDir}; ` +
      '--resume continues from there';
    process.stderr.write(`${line}\n`);
    writeTerminationMessage(line);
    return EXIT_STOPPED;
  }
  // In a pod, the operator records this as the job's final progress (its polls may have missed the end).
  if (result.progress !== undefined) writeTerminationMessage(finalProgressMessage(result.progress));
  const e = result.eval;
  if (e !== undefined) {
    const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
    process.stdout.write(
      `\n${result.dataset} test set after ${result.epoch} epochs (${result.step} steps): ` +
        `kNN top-1 ${pct(e.knnTop1)} (k=${config.knnK}), ` +
        `online linear top-1 ${pct(e.top1)} / top-5 ${pct(e.top5)}, ` +
        `linear probe top-1 ${pct(e.probeTop1)} / top-5 ${pct(e.probeTop5)}\n` +
        `checkpoints: ${result.checkpointDir}\n`,
    );
  }
  return EXIT_OK;
}

async function cmdExport(argv: readonly string[]): Promise<void> {
  const v = nodeFlags(argv, { uid: { type: 'string' }, 'model-dir': { type: 'string' }, out: { type: 'string' } });
  if (v.help) {
    process.stdout.write(EXPORT_HELP + '\n');
    return;
  }
  if (typeof v.uid !== 'string' || v.uid === '') throw new UsageError('--uid is required: the run whose checkpoints to export');
  if (typeof v.out !== 'string' || !v.out.endsWith('.onnx')) throw new UsageError('--out is required: a path ending in .onnx');
  const modelDir = typeof v['model-dir'] === 'string' ? v['model-dir'] : './models';
  const logger = createLogger({ bindings: { uid: v.uid } });
  const r = await exportFromDir(join(modelDir, v.uid), v.out, (m) => logger.warn(m));
  logger.info({ out: v.out, step: r.step, bytes: r.bytes.length, metadata: r.metadata }, 'exported encoder');
}

async function cmdEmbed(argv: readonly string[]): Promise<void> {
  const v = nodeFlags(argv, {
    model: { type: 'string' },
    dataset: { type: 'string' },
    'data-dir': { type: 'string' },
    split: { type: 'string' },
    idx: { type: 'string' },
    out: { type: 'string' },
    limit: { type: 'string' },
    'batch-size': { type: 'string' },
    threads: { type: 'string' },
  });
  if (v.help) {
    process.stdout.write(EMBED_HELP + '\n');
    return;
  }
  if (typeof v.model !== 'string') throw new UsageError('--model is required: an ONNX file written by simclr export');
  if (typeof v.out !== 'string' || !/\.(npy|json)$/.test(v.out)) throw new UsageError('--out is required: a path ending in .npy or .json');
  if ((v.dataset === undefined) === (v.idx === undefined)) throw new UsageError('--dataset or --idx: give exactly one');
  const split = v.split ?? 'test';
  if (split !== 'train' && split !== 'valid' && split !== 'test') {
    throw new UsageError(`--split=${String(split)} is not valid: use train|valid|test (valid: imagefolder with a valid/ folder)`);
  }
  const e = await embedImages(
    v.model,
    {
      idx: typeof v.idx === 'string' ? v.idx : undefined,
      dataset: typeof v.dataset === 'string' ? { name: v.dataset, dir: v['data-dir'] as string | undefined, split } : undefined,
      limit: positiveInt('limit', v.limit),
    },
    { batchSize: positiveInt('batch-size', v['batch-size']), threads: positiveInt('threads', v.threads) },
  );
  await writeEmbeddings(v.out, e);
  createLogger().info({ out: v.out, count: e.count, dim: e.dim }, 'wrote embeddings');
}

async function cmdBaseline(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('simclr baseline') + '\n');
    return;
  }
  const { config } = await withResolvedDataset(parseArgs(argv, process.env));
  const logger = createLogger({ level: config.logLevel });
  const rows = await baselines(config, (row) => logger.info(row, 'baseline'));
  for (const r of rows) {
    process.stdout.write(
      `${config.dataset} test set, ${r.features} (${r.dim}-d): kNN top-1 ${(100 * r.knnTop1).toFixed(2)}%, ` +
        `linear probe top-1 ${(100 * r.probeTop1).toFixed(2)}% / top-5 ${(100 * r.probeTop5).toFixed(2)}%\n`,
    );
  }
}

async function runLaunch(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(LAUNCH_HELP + '\n');
    return 0;
  }
  try {
    return await launch(parseLaunchArgs(argv));
  } catch (err) {
    if (err instanceof LaunchUsageError) {
      process.stderr.write(`simclr launch: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** The collective or rendezvous failure behind `err` (itself or a cause: the loop may wrap it), if any. */
function peerLost(err: unknown): DistError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof DistError && (e.code === 'DIST_COLLECTIVE' || e.code === 'DIST_RENDEZVOUS')) return e;
  }
  return undefined;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const commands: Record<string, (a: readonly string[]) => Promise<void | number>> = {
    train: cmdTrain,
    export: cmdExport,
    embed: cmdEmbed,
    baseline: cmdBaseline,
    preview: cmdPreview,
  };
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  if (command === 'launch') return runLaunch(rest);
  const run = commands[command];
  if (run === undefined) {
    process.stderr.write(`simclr: unknown command '${command}': use train, launch, export, embed, baseline or preview\n`);
    return 2;
  }
  try {
    return (await run(rest)) ?? EXIT_OK;
  } catch (err) {
    // The first line is the reason, also left as the pod's termination message for the operator.
    const fail = (code: number, detail: string): number => {
      process.stderr.write(`simclr ${command}: ${detail}\n`);
      writeTerminationMessage(`simclr ${command}: ${detail.split('\n')[0]}`);
      return code;
    };
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof DataError) {
      // One line even when a library's message (sharp, zlib) spans several.
      return fail(EXIT_CONFIG_OR_DATA, err.message.replace(/\s*\n\s*/g, ' '));
    }
    // A lost peer or master gets its own code: the operator restarts the gang for it, and may be told to treat other
    // failures differently (spec.runPolicy.failurePolicy).
    const lost = peerLost(err);
    if (lost !== undefined) return fail(EXIT_PEER_LOST, (err as Error).message);
    // What a user can fix (a replica whose process group cannot start, a provider that cannot load) is one clear
    // line with the fix; anything unexpected keeps its stack.
    const clear = err instanceof DistError || err instanceof ProviderUnavailableError || err instanceof NoDeviceKernelError;
    return fail(EXIT_FAILURE, clear ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`simclr: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
