// A whole local cluster on this machine, for `make cluster` and the end-to-end test: the test control plane
// (etcd, kube-apiserver, kube-controller-manager for garbage collection and volume binding, kube-scheduler), the
// CRD from crds/, the operator as its own process (node dist/operator/main.js, as the chart runs it) and the test
// node agent (test/agent/node-agent.ts), which runs the scheduled pods as local processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent, repoRoot } from '../agent/node-agent.js';
import type { LocalImage } from '../agent/pod-plan.js';
import { eventually } from './eventually.js';
import { startControlPlane, type ControlPlane } from './harness.js';
import { freePort } from '../../trainer/collectives/free-port.js';

export const CRD_FILE = 'crds/simclr.dev_simclrjobs.yaml';

/** Claims' folders (data sets, checkpoints: what users produce) live outside the cluster's temporary folder, so no
 * Ctrl-C, crash or cleanup of make cluster deletes them; the next make cluster finds them under the same claim names. */
export function clusterVolumesDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SIMCLR_CLUSTER_VOLUMES) return env.SIMCLR_CLUSTER_VOLUMES;
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'simclr-k8s', 'cluster-volumes');
}

export interface LocalClusterOptions {
  /** How often the operator reads rank 0's progress (seconds). Default 2. */
  progressIntervalSeconds?: number;
  /** Keep the control plane's folder (logs, pod folders, volumes) after stop(). */
  keep?: boolean;
  /** Claims' and hostPaths' folders here rather than in the control plane's folder: never deleted by stop(). */
  volumesDir?: string;
  /** One line per notable event of the node agent, and per operator restart. */
  log?: (line: string) => void;
  /** Images the node agent can run (default: the trainer image only). */
  images?: LocalImage[];
}

export interface LocalCluster {
  cp: ControlPlane;
  agent: NodeAgent;
  /** http://127.0.0.1:PORT: the operator's REST API, probes and metrics. */
  operatorUrl: string;
  operatorLog: string;
  /** The operator process now running (a new one after each restart). */
  readonly operator: ChildProcess;
  /** Times the operator exited on its own and was started again. */
  readonly operatorRestarts: number;
  stop(): Promise<void>;
}


/** The compiled entry points a local cluster runs; a clear error when `npx tsc -p .` has not been run. */
export function requireBuild(root: string): { operatorMain: string; trainerMain: string } {
  const operatorMain = join(root, 'dist', 'operator', 'main.js');
  const trainerMain = join(root, 'dist', 'trainer', 'cli', 'main.js');
  for (const f of [operatorMain, trainerMain]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build first (\`make build\` or \`npx tsc -p .\`)`);
  }
  return { operatorMain, trainerMain };
}

export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const root = repoRoot();
  const { operatorMain } = requireBuild(root);
  const cp = await startControlPlane({ controllerManager: true, scheduler: true, keep: opts.keep });
  let agent: NodeAgent | undefined;
  let operator: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  const stop = async (): Promise<void> => {
    stopping = true;
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      const gone = new Promise((r) => operator!.once('exit', r));
      operator.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      operator.kill('SIGKILL');
    }
    await agent?.stop();
    await cp.stop();
  };
  try {
    await cp.kubectl(['apply', '--server-side', '-f', join(root, CRD_FILE)]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/simclrjobs.simclr.dev']);
    const log = opts.log;
    agent = await NodeAgent.start({ kubeconfig: cp.kubeconfigPath, root: join(cp.dir, 'node-agent'),
      volumesRoot: opts.volumesDir, images: opts.images,
      log: log === undefined ? undefined : (line) => log(`node-agent: ${line}`) });
    const port = await freePort();
    const operatorLog = join(cp.dir, 'logs', 'simclr-operator.log');
    const out = createWriteStream(operatorLog);
    const spawnOperator = (): ChildProcess => {
      const child = spawn(process.execPath, [operatorMain, `--kubeconfig=${cp.kubeconfigPath}`,
        `--listen=127.0.0.1:${port}`, '--auth=none', '--lease-namespace=default',
        `--progress-interval-seconds=${opts.progressIntervalSeconds ?? 2}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } });
      child.stdout!.pipe(out, { end: false });
      child.stderr!.pipe(out, { end: false });
      // As a Deployment would: an operator that dies is started again (after a second), the cluster stays up.
      child.once('exit', (code, signal) => {
        if (stopping) return;
        restarts++;
        out.write(`--- the operator exited (${signal ?? code}); restarting it (restart ${restarts})\n`);
        opts.log?.(`operator: exited (${signal ?? code}); restarting it`);
        setTimeout(() => {
          if (!stopping) operator = spawnOperator();
        }, 1000).unref();
      });
      return child;
    };
    operator = spawnOperator();
    // The operator must not outlive this process, however it ends.
    process.once('exit', () => operator?.kill('SIGKILL'));
    const operatorUrl = `http://127.0.0.1:${port}`;
    await eventually('the operator ready (/readyz)', async () => {
      if (restarts > 0) throw new Error(`the operator exited while starting; see ${operatorLog}`);
      const r = await fetch(`${operatorUrl}/readyz`);
      return r.ok ? true : undefined;
    }, 60_000, 200);
    return {
      cp, agent, operatorUrl, operatorLog, stop,
      get operator(): ChildProcess {
        return operator!;
      },
      get operatorRestarts(): number {
        return restarts;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
