// `simclr preview` as a user runs it: a child process on an ImageFolder of real Fashion-MNIST images.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { loadMnist } from '../data/index.js';

const MAIN = fileURLToPath(new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

function simclr(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-preview-'));
  const fm = await loadMnist({ family: 'fashion-mnist', split: 'test' });
  for (let i = 0; i < 20; i++) {
    const classDir = join(dir, 'data', 'train', `c${fm.label(i)}`);
    await mkdir(classDir, { recursive: true });
    await sharp(Buffer.from(fm.getSync(i).image), { raw: { width: 28, height: 28, channels: 1 } }).resize(64, 64).jpeg().toFile(join(classDir, `${i}.jpg`));
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('simclr preview --data-dir --out writes a PNG grid of n pairs at the chosen size', async () => {
  const out = join(dir, 'grid.png');
  const r = simclr(['preview', `--data-dir=${join(dir, 'data')}`, '--out', out, '--n=6', '--image-size-override=32', '--color-jitter-strength=1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*grid\.png: 6 augmented pairs of imagefolder, 274x70 px/);
  const meta = await sharp(out).metadata();
  // 6 pairs, 4 pairs (8 tiles of 32 px + 2 px padding) a row -> 2 rows.
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 8 * 34 + 2, 2 * 34 + 2, 3]);
  const again = join(dir, 'again.png');
  assert.equal(simclr(['preview', `--data-dir=${join(dir, 'data')}`, `--out=${again}`, '--n=6', '--image-size-override=32', '--color-jitter-strength=1']).code, 0);
  const [a, b] = await Promise.all([sharp(out).raw().toBuffer(), sharp(again).raw().toBuffer()]);
  assert.ok(a.equals(b), 'same seed, same grid');
});

test('simclr preview: bad input is one line naming the flag, exit 2', () => {
  const noOut = simclr(['preview', `--data-dir=${join(dir, 'data')}`]);
  assert.equal(noOut.code, 2);
  assert.equal(noOut.stderr.trim(), 'simclr preview: --out is required: a path ending in .png');
  const tooMany = simclr(['preview', `--data-dir=${join(dir, 'data')}`, '--out=x.png', '--n=50']);
  assert.equal(tooMany.code, 2);
  assert.equal(tooMany.stderr.trim(), 'simclr preview: --n=50 is more than the 20 training images: use at most 20');
  const missing = simclr(['preview', `--data-dir=${join(dir, 'nope')}`, '--out=x.png']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr.trim(), /^simclr preview: --data-dir=.*nope does not exist: point it at the data set folder \(or drop it and pass --dataset\)$/);
  const badFlag = simclr(['preview', `--data-dir=${join(dir, 'data')}`, '--out=x.png', '--color-jitter-strength=9']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--color-jitter-strength/);
});
