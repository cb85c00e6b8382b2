// simclr launch: N replicas of `simclr train` on this machine, like torchrun --nproc-per-node. Each child gets
// RANK / WORLD_SIZE / MASTER_ADDR=127.0.0.1 / MASTER_PORT (a free port unless given), so the trainer's own env
// handling does the rest. On CPU, several single-threaded replicas usually beat one multi-threaded process (ONNX
// Runtime's intra-op threads scale poorly on small layers; bench/distributed-step.ts). Rank 0's logs go to stdout;
// every rank's stderr is passed through. The first replica to fail stops the others, and its exit code is returned.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../collectives/free-port.js';

export const LAUNCH_HELP = `Usage: simclr launch --nproc=<n> [--master-port=<port>] train [train flags ...]

Starts <n> replicas of simclr train on this machine (ranks 0..n-1, rendezvous on 127.0.0.1). --batch-size stays the
global batch; pass --threads to set ONNX Runtime threads per replica (e.g. cores / n). Rank 0 writes checkpoints,
TensorBoard and the logs on stdout. Exit code: 0 when every replica succeeds, else the first failure's.`;

export class LaunchUsageError extends Error {}

export interface LaunchPlan {
  nproc: number;
  masterPort?: number;
  trainArgs: string[];
}

export function parseLaunchArgs(argv: readonly string[]): LaunchPlan {
  const at = argv.indexOf('train');
  if (at < 0) throw new LaunchUsageError('launch needs the train command after its own flags: simclr launch --nproc=2 train ...');
  let nproc: number | undefined;
  let masterPort: number | undefined;
  for (let i = 0; i < at; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = inline ?? argv[++i];
    const n = Number(value);
    if (flag === '--nproc') {
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new LaunchUsageError(`--nproc=${value} is not valid: use an integer in [1, 256]`);
      nproc = n;
    } else if (flag === '--master-port') {
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new LaunchUsageError(`--master-port=${value} is not valid: use a port in [1, 65535]`);
      masterPort = n;
    } else {
      throw new LaunchUsageError(`launch: unknown flag ${flag}: use --nproc or --master-port before 'train'`);
    }
    if (i >= at) throw new LaunchUsageError(`${flag} needs a value`);
  }
  if (nproc === undefined) throw new LaunchUsageError('launch: --nproc is required: how many replicas to start');
  return { nproc, masterPort, trainArgs: argv.slice(at + 1) };
}


/** Runs the replicas to completion; resolves with the launcher's exit code. */
export async function launch(plan: LaunchPlan): Promise<number> {
  const port = plan.masterPort ?? (await freePort());
  // The same entry point this process runs (main.ts under tsx, main.js when built), with the same node flags.
  const cli = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url));
  const children: ChildProcess[] = [];
  const forward = (signal: NodeJS.Signals): void => {
    for (const c of children) if (c.exitCode === null) c.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals): void => forward(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const exits = Array.from({ length: plan.nproc }, (_v, rank) => {
      const child = spawn(process.execPath, [...process.execArgv, cli, 'train', ...plan.trainArgs], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(plan.nproc), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
        stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'inherit'],
      });
      children.push(child);
      return new Promise<number>((resolve) => {
        child.on('close', (code) => resolve(code ?? 1));
        child.on('error', () => resolve(1));
      });
    });
    let failure: number | undefined;
    await Promise.all(
      exits.map((exit) =>
        exit.then((code) => {
          if (code !== 0 && failure === undefined) {
            failure = code;
            forward('SIGTERM'); // the others would only wait out their collective timeout
          }
        }),
      ),
    );
    return failure ?? 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
