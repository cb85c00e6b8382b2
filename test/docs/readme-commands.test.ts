// Every command in README.md's ```bash blocks is run here, or is mapped to the test or CI step that runs it, so
// the README cannot rot. Commands are taken from the README itself (not copied here): change a README command and
// this file runs the new one. Expensive commands are shortened only by appending flags (e.g. --max-steps) or by
// running them against this machine (127.0.0.1 for a master host, the test control plane for kubectl and helm).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../agent/node-agent.js';
import { eventually } from '../controlplane/eventually.js';
import { HELM_INSTALL, startLocalCluster, type LocalCluster } from '../controlplane/local-cluster.js';
import { writeFashionMnistSubset } from '../e2e/fashion-mnist-subset.js';

const ROOT = repoRoot();
const run = promisify(execFile);

/** The commands of README's ```bash blocks: continuation lines joined, trailing `# comments` dropped. */
export function readmeCommands(markdown: string): string[] {
  const out: string[] = [];
  for (const block of markdown.matchAll(/```bash\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) {
      const cmd = line.replace(/\s+#\s.*$/, '').trim();
      if (cmd !== '' && !cmd.startsWith('#')) out.push(cmd);
    }
  }
  return out;
}

const COMMANDS = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
const TRAINER = 'node dist/trainer/cli/main.js ';

/** Where each README command is run. Every command must match exactly one rule. */
const RULES: Array<{ pattern: RegExp; where: string }> = [
  { pattern: /^make run$/, where: "here: make -n run's train command (with --max-steps=1), which exports the encoder" },
  { pattern: /^make test$/, where: '.ci/run (CI runs make test)' },
  { pattern: /^make cluster$/, where: 'here: make -n cluster runs the script; test/e2e starts the same cluster' },
  { pattern: new RegExp(`^${TRAINER}`), where: 'here: in order, in one folder, trains shortened with --max-steps' },
  { pattern: /^(sbatch .*|RANK=\d+ .*)examples\/multi-node\.sh /, where: 'here: two ranks on 127.0.0.1' },
  { pattern: /^(helm (install|uninstall)|kubectl) /,
    where: 'here, on the local cluster make cluster starts (which ran the helm install line itself, as test/e2e and ' +
      'test/operator/local-cluster.test.ts do)' },
];

test('every README command is run by a rule of this file', () => {
  assert.ok(COMMANDS.length >= 10, `found only ${COMMANDS.length} commands: is the README still in bash blocks?`);
  const unmatched = COMMANDS.filter((c) => RULES.filter((r) => r.pattern.test(c)).length !== 1);
  assert.deepEqual(unmatched, [], `README commands no rule runs (add a rule and a test here): ${unmatched.join(' | ')}`);
});

test('make test is what CI runs', () => {
  assert.ok(COMMANDS.includes('make test'));
  assert.match(readFileSync(join(ROOT, '.ci', 'run'), 'utf8'), /^make test$/m);
});

test('make cluster runs the local-cluster script the end-to-end test also starts, which runs the README\'s helm install', async () => {
  assert.ok(COMMANDS.includes('make cluster'));
  const { stdout } = await run('make', ['-n', 'cluster'], { cwd: ROOT });
  assert.match(stdout, /^node dist\/test\/controlplane\/cluster\.js$/m);
  assert.match(readFileSync(join(ROOT, 'test/controlplane/cluster.ts'), 'utf8'), /startLocalCluster\(/);
  assert.match(readFileSync(join(ROOT, 'test/e2e/simclrjob.test.ts'), 'utf8'), /startLocalCluster\(/);
  assert.match(readFileSync(join(ROOT, 'test/controlplane/local-cluster.ts'), 'utf8'),
    /await helm\(\[\.\.\.HELM_INSTALL\.split\(' '\)\.slice\(1\)/);
});

/** Splits a command line into argv (the README's commands use no quotes). */
const argv = (cmd: string): string[] => cmd.split(/\s+/);

/** `flags` (`--name value` or `--name=value` tokens) without the flags named in `drop`. */
function withoutFlags(flags: string[], drop: string[]): string[] {
  const names = new Set(drop.filter((t) => t.startsWith('--')).map((t) => t.split('=')[0]));
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const t = flags[i]!;
    const takesValue = !t.includes('=') && flags[i + 1] !== undefined && !flags[i + 1]!.startsWith('--');
    if (!names.has(t.split('=')[0])) out.push(t, ...(takesValue ? [flags[i + 1]!] : []));
    if (takesValue) i++;
  }
  return out;
}

describe('the trainer commands, in a fresh folder', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'simclr-readme-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const node = async (args: string[], cwd: string): Promise<string> => {
    const [cmd, script, ...rest] = args;
    assert.equal(cmd, 'node');
    const r = await run(process.execPath, [join(ROOT, script!), ...rest], { cwd, maxBuffer: 64 << 20, timeout: 300_000 });
    return r.stdout + r.stderr;
  };

  test('make run: its train command (stopped after a step) leaves the encoder it announces', async () => {
    assert.ok(COMMANDS.includes('make run'));
    const { stdout } = await run('make', ['-n', 'run'], { cwd: ROOT });
    const lines = stdout.split('\n').filter((l) => l.startsWith(TRAINER));
    assert.equal(lines.length, 1, stdout);
    await node([...argv(lines[0]!), '--max-steps=1'], dir);
    const out = /encoder: (\S+\.onnx)/.exec(stdout)?.[1];
    assert.ok(out !== undefined, `make run announces no encoder path: ${stdout}`);
    assert.ok(existsSync(join(dir, out)), `make run's training left no ${out}`);
  });

  test('every node dist/trainer/cli/main.js line, in README order', async () => {
    const lines = COMMANDS.filter((c) => c.startsWith(TRAINER));
    assert.ok(lines.length >= 4);
    // `...` in a line stands for the flags of the last full train command; baseline gets a smaller data set.
    let trainFlags: string[] = [];
    const subset = join(dir, 'fmnist-subset');
    writeFashionMnistSubset(subset, { train: 2000, test: 500 });
    for (const line of lines) {
      const args = argv(line);
      const sub = args[2];
      const dots = args.indexOf('...');
      // Flags the line sets itself win over the ones `...` stands for.
      if (dots >= 0) args.splice(dots, 1, ...withoutFlags(trainFlags, args));
      if (args.includes('train') && !args.includes('--help')) {
        if (dots < 0 && sub === 'train') trainFlags = withoutFlags(args.slice(3), ['--uid']);
        const done = await node([...args, `--max-steps=${args.includes('--resume') ? 2 : 1}`], dir);
        if (args.includes('--resume')) assert.match(done, /"msg":"resumed"/, `${line}: did not resume`);
      } else if (sub === 'baseline') {
        const out = await node([...args, `--data-dir=${subset}`], dir);
        assert.match(out, /pixels/i, `${line}: no raw-pixel baseline in its output`);
      } else {
        const out = await node(args, dir);
        if (args.includes('--help')) assert.match(out, /--batch-size/);
      }
      const written = args.find((a, i, all) => all[i - 1] === '--out');
      if (written !== undefined) assert.ok(existsSync(join(dir, written)), `${line}: wrote no ${written}`);
    }
  });

  test('examples/multi-node.sh: the bare-metal lines as two ranks, and the SLURM line as two tasks', async () => {
    const lines = COMMANDS.filter((c) => /examples\/multi-node\.sh /.test(c));
    const bare = lines.filter((l) => l.startsWith('RANK='));
    const slurm = lines.filter((l) => l.startsWith('sbatch '));
    assert.equal(bare.length, 2);
    assert.equal(slurm.length, 1);
    // Appended: a tiny model and two steps, so two ranks on 2 cores finish in seconds.
    const tiny = ['--width-multiplier=0.0625', '--image-size-override=16', '--head-latent-size=32', '--nce-size=16',
      '--threads=1', '--workers-per-replica=0', '--max-steps=2'];
    const rank = (env: Record<string, string>, args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const p = spawn('bash', [join(ROOT, 'examples/multi-node.sh'), ...args, ...tiny],
          { cwd: dir, env: { PATH: process.env.PATH!, HOME: dir, MODEL_DIR: join(dir, 'mn-models'), ...env } });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (out += d));
        p.on('exit', (code) => resolve({ code, out }));
      });
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const envOf = (l: string): Record<string, string> =>
      Object.fromEntries(l.split(' examples/')[0]!.split(/\s+/).map((kv) => kv.split('=') as [string, string]));
    const flagsOf = (l: string): string[] => argv(l.split('examples/multi-node.sh ')[1]!);
    const results = await Promise.all(bare.map((l) =>
      rank({ ...envOf(l), MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RUN_UID: 'bare' }, flagsOf(l))));
    for (const r of results) assert.equal(r.code, 0, r.out.slice(-2000));
    assert.match(results[0]!.out, /"replicas":2/);
    assert.ok(existsSync(join(dir, 'mn-models', 'bare')), 'rank 0 wrote no checkpoints to MODEL_DIR/RUN_UID');
    // The SLURM path: what srun would set for each task (no scontrol here, so MASTER_ADDR is given).
    const slurmResults = await Promise.all([0, 1].map((procid) => rank({ SLURM_JOB_ID: '77', SIMCLR_UNDER_SRUN: '1',
      SLURM_PROCID: String(procid), SLURM_NTASKS: '2', SLURM_SUBMIT_DIR: ROOT, MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(Number(port) + 1) }, flagsOf(slurm[0]!))));
    for (const r of slurmResults) assert.equal(r.code, 0, r.out.slice(-2000));
    assert.ok(existsSync(join(dir, 'mn-models', 'simclr-77')), 'the SLURM run used no simclr-$SLURM_JOB_ID uid');
  });
});

describe('the Kubernetes quickstart, on the local cluster make cluster starts', () => {
  let c: LocalCluster;
  before(async () => {
    c = await startLocalCluster();
  });
  after(async () => {
    await c?.stop();
  });

  test('in README order: make cluster\'s helm install, kubectl apply the example, kubectl get scj, helm uninstall',
    { timeout: 300_000 }, async () => {
      const lines = COMMANDS.filter((c) => /^(helm (install|uninstall)|kubectl) /.test(c));
      assert.ok(lines.length >= 4);
      // The local cluster (make cluster, the end-to-end tests) installs the operator with exactly this line.
      assert.equal(lines[0], HELM_INSTALL, 'the README\'s install is the one make cluster runs');
      const kubectl = (args: string[]): Promise<{ stdout: string }> =>
        run(join(c.cp.binDir, 'kubectl'), args, { cwd: ROOT, env: c.cp.env, timeout: 120_000 });
      for (const line of lines.slice(1)) {
        const [tool, ...args] = argv(line);
        if (tool === 'helm') {
          await c.helm(args);
        } else if (line.startsWith('kubectl get scj')) {
          // The printer columns the README's comment names, and the example job reconciled by the chart's operator.
          const out = await eventually('the example job with a phase', async () => {
            const { stdout } = await kubectl(args);
            return /^fashion-mnist-tiny\s+[A-Z][a-z]+\s/m.test(stdout) ? stdout : undefined;
          }, 120_000, 1000);
          assert.match(out, /^NAME\s+PHASE\s+REPLICAS\s+EPOCH\s+LOSS\s+AGE$/m);
        } else {
          await kubectl(args);
        }
      }
      // After helm uninstall: the operator gone, the CRD and the job kept (what the README says).
      await eventually('the operator pods gone', async () => ((await c.operatorPods()).length === 0 ? true : undefined),
        60_000, 500);
      assert.match((await kubectl(['get', 'scj', '--no-headers'])).stdout, /^fashion-mnist-tiny\s/m);
      await kubectl(['delete', 'scj', 'fashion-mnist-tiny', '--wait=false']); // its training pods need not run on
    });
});
