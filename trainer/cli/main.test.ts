// The CLI as a user runs it: a child process (dist/…/main.js after the build, or main.ts under tsx).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TERMINATION_MESSAGE_ENV } from '../contract/index.js';
import { TINY_RUN_FLAGS } from '../train/tiny-run.fixture.js';

const MAIN = fileURLToPath(new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

function simclr(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, RANK: '', WORLD_SIZE: '', MASTER_ADDR: '', MASTER_PORT: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('simclr train --debug-step on the synthetic data set exits 0 and writes a checkpoint', async () => {
  const models = join(dir, 'models');
  const r = simclr([
    'train',
    '--dataset=synthetic',
    '--debug-step',
    '--batch-size=16',
    '--image-size-override=12',
    '--width-multiplier=0.0625',
    '--head-latent-size=32',
    '--nce-size=16',
    '--threads=2',
    '--uid=dbg',
    `--model-dir=${models}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /debug step done/);
  assert.deepEqual((await readdir(join(models, 'dbg'))).sort(), ['step-0000000001.json', 'step-0000000001.safetensors']);

  const onnx = join(dir, 'enc.onnx');
  const e = simclr(['export', '--uid=dbg', `--model-dir=${models}`, `--out=${onnx}`]);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(existsSync(onnx));
  const npy = join(dir, 'emb.npy');
  const m = simclr(['embed', `--model=${onnx}`, '--dataset=synthetic', '--limit=7', `--out=${npy}`]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, /"count":7/);
});

test('simclr train to the end prints the test-set summary: kNN, online linear and linear-probe top-1', async () => {
  const r = simclr(['train', ...TINY_RUN_FLAGS, '--uid=whole', `--model-dir=${join(dir, 'models')}`, `--log-dir=${join(dir, 'runs')}`]);
  assert.equal(r.code, 0, r.stderr);
  const summary = /synthetic test set after 1 epochs \(16 steps\): kNN top-1 ([\d.]+)% \(k=20\), online linear top-1 ([\d.]+)% \/ top-5 ([\d.]+)%, linear probe top-1 ([\d.]+)% \/ top-5 ([\d.]+)%/.exec(r.stdout);
  assert.ok(summary, r.stdout.slice(-600));
  const [knn, top1, top5, probe1, probe5] = summary.slice(1).map(Number) as [number, number, number, number, number];
  for (const v of [knn, top1, top5, probe1, probe5]) assert.ok(v >= 0 && v <= 100);
  assert.ok(top1 <= top5 && probe1 <= probe5);
  assert.ok(knn > 30 && probe1 > 30, `the synthetic classes are learnable: kNN ${knn}%, probe ${probe1}%`);
  assert.ok(existsSync(join(dir, 'models', 'whole', 'encoder.onnx')), 'a finished run exports the encoder');
});

test('a provider that cannot load exits 1 with one line naming it and the fix, no stack (cuda without a driver)', (t) => {
  if (/\blibcuda\.so\.1\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '')) return t.skip('this machine has an NVIDIA driver');
  const r = simclr(['train', '--dataset=synthetic', '--debug-step', '--batch-size=16', '--image-size-override=12', '--execution-provider=cuda', `--model-dir=${join(dir, 'models')}`]);
  assert.equal(r.code, 1, r.stderr);
  const ours = r.stderr.split('\n').filter((l) => l.startsWith('simclr train:'));
  assert.equal(ours.length, 1, r.stderr);
  assert.match(ours[0]!, /execution provider 'cuda' cannot load \(no NVIDIA driver: libcuda\.so\.1: .*\)\. Fix: run on a machine with an NVIDIA GPU .*--execution-provider cpu$/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(r.stderr.trim(), ours[0], 'nothing else on stderr (ORT is not asked to load a provider that cannot)');
});

test('a bad flag value exits 2 with one line naming the flag', () => {
  const r = simclr(['train', '--batch-size=abc']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--batch-size/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  const w = simclr(['train', '--width-multiplier=0']);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /--width-multiplier=0 is not valid/);
  const u = simclr(['train', '--epoch=3']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown flag --epoch: did you mean --epochs\?/);
  const x = simclr(['export', '--out=model.txt', '--uid=a']);
  assert.equal(x.code, 2);
  assert.match(x.stderr, /--out/);
  const c = simclr(['frobnicate']);
  assert.equal(c.code, 2);
  // --half needs a GPU provider's float16 kernels: refused before anything starts on the CPU provider.
  const h = simclr(['train', '--half']);
  assert.equal(h.code, 2);
  assert.equal(h.stderr.trim(), 'simclr train: --precision=fp16 needs the float16 kernels of a GPU provider, which --execution-provider=cpu is not: use the webgpu or cuda provider, or precision fp32');
});

test('a bad flag or unreadable data exits 2 and leaves its one line as the termination message', async () => {
  const message = join(dir, 'termination-log');
  const env = { [TERMINATION_MESSAGE_ENV]: message };
  const flag = simclr(['train', '--gradient-cache-chunk=3', '--batch-size=16'], env);
  assert.equal(flag.code, 2);
  assert.equal(readFileSync(message, 'utf8'),
    'simclr train: --gradient-cache-chunk=3 does not divide the local batch (--batch-size=16 / --num-replicas=1): ' +
    'use a divisor of it, or 0 for the whole local batch');
  const empty = await mkdtemp(join(dir, 'no-data-'));
  const data = simclr(['train', '--dataset=fashion-mnist', `--data-dir=${empty}`, '--debug-step',
    `--model-dir=${join(dir, 'models')}`], env);
  assert.equal(data.code, 2, data.stderr);
  assert.match(readFileSync(message, 'utf8'), /^simclr train: fashion-mnist: missing .*no-data-.*train-images-idx3-ubyte/);
  assert.doesNotMatch(data.stderr, /^\s+at /m, 'no stack trace');
});

test('--help documents every flag', () => {
  const r = simclr(['train', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--batch-size', '--width-multiplier', '--resume', '--checkpoint-every', '--knn-k']) assert.ok(r.stdout.includes(flag), flag);
});
