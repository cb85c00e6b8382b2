// A whole local cluster on this machine, for `make cluster` and the end-to-end test: the test control plane
// (etcd, kube-apiserver, kube-controller-manager for garbage collection and volume binding, kube-scheduler), the
// CRD from crds/, the operator as its own process (node dist/operator/main.js, as the chart runs it) and the test
// node agent (test/agent/node-agent.ts), which runs the scheduled pods as local processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { NodeAgent, repoRoot } from '../agent/node-agent.js';
import { eventually } from './eventually.js';
import { startControlPlane, type ControlPlane } from './harness.js';
import { freePort } from '../../trainer/dist/free-port.js';

export const CRD_FILE = 'crds/simclr.dev_simclrjobs.yaml';

export interface LocalClusterOptions {
  /** How often the operator reads rank 0's progress (seconds). Default 2. */
  progressIntervalSeconds?: number;
  /** Keep the control plane's folder (logs, pod folders, volumes) after stop(). */
  keep?: boolean;
  /** One line per notable event of the node agent. */
  log?: (line: string) => void;
}

export interface LocalCluster {
  cp: ControlPlane;
  agent: NodeAgent;
  /** http://127.0.0.1:PORT: the operator's REST API, probes and metrics. */
  operatorUrl: string;
  operatorLog: string;
  operator: ChildProcess;
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
  const stop = async (): Promise<void> => {
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
    agent = await NodeAgent.start({ kubeconfig: cp.kubeconfigPath, root: join(cp.dir, 'node-agent'), log: opts.log });
    const port = await freePort();
    const operatorLog = join(cp.dir, 'logs', 'simclr-operator.log');
    const out = createWriteStream(operatorLog);
    operator = spawn(process.execPath, [operatorMain, `--kubeconfig=${cp.kubeconfigPath}`, `--listen=127.0.0.1:${port}`,
      '--auth=none', '--lease-namespace=default', `--progress-interval-seconds=${opts.progressIntervalSeconds ?? 2}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } });
    operator.stdout!.pipe(out, { end: false });
    operator.stderr!.pipe(out, { end: false });
    // The operator must not outlive this process, however it ends.
    const op = operator;
    process.once('exit', () => op.kill('SIGKILL'));
    const operatorUrl = `http://127.0.0.1:${port}`;
    await eventually('the operator ready (/readyz)', async () => {
      if (op.exitCode !== null) throw new Error(`the operator exited with ${op.exitCode}; see ${operatorLog}`);
      const r = await fetch(`${operatorUrl}/readyz`);
      return r.ok ? true : undefined;
    }, 60_000, 200);
    return { cp, agent, operatorUrl, operatorLog, operator: op, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
