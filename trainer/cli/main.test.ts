// The CLI as a user runs it: a child process (dist/…/main.js after the build, or main.ts under tsx).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
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

test('--data-dir alone, as the seed passes it: an ImageFolder is inferred and trains; a folder that is no data set exits 2 in one line', async () => {
  const photos = join(dir, 'photos');
  for (const split of ['train', 'test']) {
    for (const [k, r] of [[0, 220], [1, 30]] as const) {
      await mkdir(join(photos, split, `class${k}`), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const png = await sharp({ create: { width: 20, height: 16, channels: 3, background: { r, g: 40 * i, b: 90 } } }).png().toBuffer();
        await writeFile(join(photos, split, `class${k}`, `${i}.png`), png);
      }
    }
  }
  const tiny = ['--debug-step', '--batch-size=8', '--image-size-override=12', '--width-multiplier=0.0625', '--head-latent-size=32',
    '--nce-size=16', '--threads=2', `--model-dir=${join(dir, 'models')}`];
  const r = simclr(['train', `--data-dir=${photos}`, '--uid=seed-style', ...tiny]);
  assert.equal(r.code, 0, r.stderr);
  const inferred = r.stdout.split('\n').filter((l) => l.includes('data set inferred from --data-dir')).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(inferred.length, 1, r.stdout.slice(-800));
  assert.equal(inferred[0]!.dataset, 'imagefolder');
  assert.match(r.stdout, /"dataset":"imagefolder","train":8,"test":8,.*"msg":"training"/);

  // The seed's default batch is far more than this folder holds: one line naming the flag, not the loader's stack.
  const big = simclr(['train', `--data-dir=${photos}`, '--uid=too-big', ...tiny.filter((f) => !f.startsWith('--batch-size')), '--batch-size=64']);
  assert.equal(big.code, 2, big.stderr);
  assert.equal(big.stderr.trim(), 'simclr train: imagefolder/train has 8 images, fewer than one batch of 64: lower --batch-size to at most 8, or add images under --data-dir');

  const message = join(dir, 'termination-log-data');
  const junk = join(dir, 'junk');
  await mkdir(junk);
  await writeFile(join(junk, 'readme.txt'), 'not a data set');
  const bad = simclr(['train', `--data-dir=${junk}`, '--uid=junk', ...tiny], { [TERMINATION_MESSAGE_ENV]: message });
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^simclr train: --data-dir=.*junk is no data set this trainer can recognise \(it holds readme\.txt\).*pass --dataset/);
  assert.equal(readFileSync(message, 'utf8'), bad.stderr.trim(), 'the operator reads the same line');
  assert.ok(!existsSync(join(dir, 'models', 'junk')), 'nothing written for a run that could not start');
});

test('--help documents every flag', () => {
  const r = simclr(['train', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--batch-size', '--width-multiplier', '--resume', '--checkpoint-every', '--knn-k']) assert.ok(r.stdout.includes(flag), flag);
});

test('the seed\'s flags: a missing --weight-initialization file, a refused optimizer or --representation-size exit 2 with one line', () => {
  const missing = join(dir, 'pretrained', 'encoder.onnx');
  const w = simclr(['train', '--dataset=synthetic', `--weight-initialization=${missing}`, `--model-dir=${join(dir, 'models')}`]);
  assert.equal(w.code, 2, w.stderr);
  assert.equal(w.stderr, `simclr train: --weight-initialization=${missing}: no such file or folder: give a checkpoint ` +
    '(step-*.json, or a run folder under --model-dir) or an exported encoder.onnx\n');
  const o = simclr(['train', '--optimizer=lars_adam']);
  assert.equal(o.code, 2);
  assert.match(o.stderr, /^simclr train: --optimizer=lars_adam is an optimizer of the seed we do not have: .*\n$/);
  const r = simclr(['train', '--representation-size=2048']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^simclr train: --representation-size is a flag of the seed implementation: .*--width-multiplier.*\n$/);
  const help = simclr(['train', '--help']).stdout;
  for (const flag of ['--polyak-ema', '--early-stop', '--early-stop-patience', '--weight-initialization', 'lars_momentum']) {
    assert.ok(help.includes(flag), flag);
  }
});
