// The loop on the synthetic data set with a tiny model: what an epoch logs and writes to TensorBoard, exact resume (and
// a corrupt newest checkpoint skipped with a warning), export and embed equality (the standalone ONNX encoder, and
// simclr embed through it, give the trainer's eval-mode h), and on a small ImageFolder
// with a valid/ split, which split each epoch is evaluated on; --eval-image-size evaluating and exporting at another size.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { latestValid } from '../checkpoint/index.js';
import { parseArgs } from '../contract/index.js';
import { loadMnist, openDataset } from '../data/index.js';
import { createLogger, decodeRecords } from '../observe/index.js';
import { decodeEvent } from '../observe/event-proto.js';
import { embedImages } from './encoder/embed.js';
import { exportEncoder } from './encoder/export.js';
import { EvalForward } from './evaluation/features.js';
import { TINY_RUN_FLAGS } from './tiny-run.fixture.js';
import type { TrainResult } from './epoch-loop.js';
import { train } from './loop.js';
import { createEngine } from './run-setup.js';

const { onnx } = onnxProto;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-loop-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// 2048 synthetic images / batch 128 = 16 steps per epoch; one epoch.
const flags = (uid: string, extra: string[] = []): string[] => [
  ...TINY_RUN_FLAGS,
  `--uid=${uid}`,
  `--model-dir=${join(dir, 'models')}`,
  `--log-dir=${join(dir, 'runs')}`,
  ...extra,
];

function lines(level: 'info' | 'debug' = 'info'): { logger: ReturnType<typeof createLogger>; records: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => out.push(s) }, pretty: false, level });
  return { logger, records: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let full: TrainResult;

test('uninterrupted run: trains one epoch, evaluates, writes checkpoints and TensorBoard events', async () => {
  const { logger, records } = lines('debug');
  full = await train(parseArgs(flags('full', ['--checkpoint-every=4', '--log-interval=4'])), { logger });
  assert.equal(full.step, 16);
  assert.ok(full.eval && full.eval.knnTop1 > 0.3, `kNN top-1 ${full.eval?.knnTop1}`);
  assert.ok(full.eval.probeTop1 !== undefined);
  // The epoch's record: loss, lr, images/s and the online classifier's train top-1/top-5.
  const epoch = records().find((r) => r.msg === 'epoch done');
  assert.ok(epoch, 'an epoch done record');
  assert.equal(epoch.epoch, 1);
  assert.equal(epoch.step, 16);
  const num = (k: string): number => {
    assert.equal(typeof epoch[k], 'number', k);
    return epoch[k] as number;
  };
  assert.ok(num('loss') > 0 && Number.isFinite(num('loss')), `loss ${epoch.loss}`);
  assert.ok(num('lr') >= 0 && num('lr') < 0.25 / 10, `lr ${epoch.lr}: near the end of the cosine from a 0.5 x 128/256 peak`);
  assert.ok(num('imagesPerSecond') > 0);
  assert.ok(num('trainTop1') >= 0 && num('trainTop1') < num('trainTop5') && num('trainTop5') <= 1, `top-1 ${epoch.trainTop1}, top-5 ${epoch.trainTop5}`);
  const evaluation = records().find((r) => r.msg === 'evaluation on the test set');
  assert.ok(evaluation);
  for (const k of ['knnTop1', 'top1', 'top5', 'probeTop1', 'probeTop5']) assert.ok(typeof evaluation[k] === 'number' && (evaluation[k] as number) <= 1, k);
  const ckpts = (await readdir(join(dir, 'models', 'full'))).filter((n) => n.endsWith('.json'));
  assert.deepEqual(ckpts, ['step-0000000008.json', 'step-0000000012.json', 'step-0000000016.json']); // keep 3
  const events = (await readdir(join(dir, 'runs', 'full'))).filter((n) => n.startsWith('events.out.tfevents.'));
  assert.equal(events.length, 1);
  const tags = (await readFile(join(dir, 'runs', 'full', events[0]!))).toString('latin1');
  for (const tag of ['train/loss', 'train/lr', 'train/images_per_second', 'train/top1', 'train/top5', 'test/knn_top1', 'test/top1', 'test/top5', 'test/probe_top1']) {
    assert.ok(tags.includes(tag), `TensorBoard tag ${tag}`);
  }
  // --log-interval=4: the event file read back holds a point every 4 steps, each the mean loss of its 4 steps (as the
  // debug log has them), the lr of its last step, and images/s.
  const scalars = new Map<string, Array<[number, number]>>();
  const path = join(dir, 'runs', 'full', events[0]!);
  for (const e of decodeRecords(await readFile(path), path).map(decodeEvent)) {
    for (const v of e.summary?.value ?? []) {
      if ('simple_value' in v) scalars.set(v.tag, [...(scalars.get(v.tag) ?? []), [Number(e.step), v.simple_value]]);
    }
  }
  const steps = records().filter((r) => r.msg === 'step') as Array<{ step: number; loss: number; lr: number }>;
  assert.deepEqual(steps.map((s) => s.step), Array.from({ length: 16 }, (_v, i) => i + 1));
  const want = [4, 8, 12, 16].map((at) => {
    const losses = steps.filter((s) => s.step > at - 4 && s.step <= at).map((s) => s.loss);
    return { at, loss: Math.fround(losses.reduce((a, b) => a + b, 0) / 4), lr: Math.fround(steps[at - 1]!.lr) };
  });
  assert.deepEqual(scalars.get('step/loss'), want.map((w) => [w.at, w.loss]));
  assert.deepEqual(scalars.get('step/lr'), want.map((w) => [w.at, w.lr]));
  assert.ok(new Set(want.map((w) => w.lr)).size === 4, 'the lr moves between points (warmup, then cosine)');
  const ips = scalars.get('step/images_per_second') ?? [];
  assert.deepEqual(ips.map(([s]) => s), [4, 8, 12, 16]);
  for (const [, v] of ips) assert.ok(v > 0 && Number.isFinite(v), `images/s ${v}`);
  assert.deepEqual(scalars.get('train/lr')?.map(([s]) => s), [16], 'per-epoch scalars stay once per epoch');
});

test('resume: 8 steps + --resume 8 steps ends with the same weights, skipping a corrupt newest checkpoint', async () => {
  const first = await train(parseArgs(flags('resumed', ['--checkpoint-every=4'])), { stopAfterStep: 8, logger: lines().logger });
  assert.equal(first.step, 8);
  // Corrupt the newest checkpoint (step 8): resume must warn, skip it and continue from step 4.
  const newest = join(dir, 'models', 'resumed', 'step-0000000008.safetensors');
  const bytes = await readFile(newest);
  bytes[bytes.length - 3] ^= 0xff;
  await writeFile(newest, bytes);
  const { logger, records } = lines();
  const resumed = await train(parseArgs(flags('resumed', ['--checkpoint-every=4', '--resume'])), { logger });
  const warnings = records().filter((r) => r.level === 40).map((r) => String(r.msg));
  assert.ok(warnings.some((m) => /skipping invalid checkpoint.*step-0000000008.*sha256/.test(m)), warnings.join('\n'));
  assert.ok(records().some((r) => r.msg === 'resumed' && r.step === 4));
  assert.equal(resumed.step, 16);
  // The corrupt checkpoint was moved aside as it was (the resumed run wrote a new step 8 in its place).
  const [moved] = await readdir(join(dir, 'models', 'resumed', 'corrupt'));
  assert.deepEqual(await readFile(join(dir, 'models', 'resumed', 'corrupt', moved!, 'step-0000000008.safetensors')), bytes);
  // The CPU provider with a fixed thread count is deterministic here: bit-identical weights, buffers included.
  let worst = 0;
  for (const [name, p] of full.store.entries()) {
    const d = maxAbsDiff(p.data, resumed.store.require(name).data);
    worst = Math.max(worst, d);
  }
  assert.equal(worst, 0, `max |full - resumed| over all weights is ${worst}`);
});

test('export and embed: the standalone ONNX encoder gives the trainer eval-mode h (max diff <= 1e-5 x max |h|), any batch size', async () => {
  const ckpt = await latestValid(join(dir, 'models', 'full'));
  assert.ok(ckpt);
  const exported = exportEncoder(ckpt);
  assert.equal(exported.metadata['simclr.input_height'], '12');
  assert.equal(exported.metadata['simclr.input_channels'], '1');
  assert.deepEqual(JSON.parse(exported.metadata['simclr.normalization_mean']), [0.5]);
  assert.equal(Number(onnx.ModelProto.decode(exported.bytes).opsetImport[0]!.version), 17, 'encoders export at opset 17');
  const config = parseArgs(flags('full'));
  const engine = await createEngine(config);
  const test = await openDataset({ name: 'synthetic', seed: config.seed }, 'test');
  const forward = EvalForward.create(engine, { model: exported.model, batchSize: 5, height: 12, width: 12 });
  const trainer = await forward.features(test, full.store, 5);
  const path = join(dir, 'encoder.onnx');
  await writeFile(path, exported.bytes);
  const session = await ort.InferenceSession.create(path);
  const x = new Float32Array(5 * 144);
  const { evalBatches } = await import('../data/index.js');
  for await (const b of evalBatches(test, { batchSize: 5, outHeight: 12, outWidth: 12 })) {
    x.set(b.images);
    break;
  }
  const h5 = (await session.run({ x: new ort.Tensor('float32', x, [5, 1, 12, 12]) })).h.data as Float32Array;
  const h2 = (await session.run({ x: new ort.Tensor('float32', x.slice(0, 288), [2, 1, 12, 12]) })).h.data as Float32Array;
  await session.release();
  // Two ORT sessions with different thread settings sum in different orders: float32 rounding of h's magnitude.
  const scale = Math.max(1, ...Array.from(trainer.h, Math.abs));
  const diff = maxAbsDiff(h5, trainer.h);
  assert.ok(diff <= 1e-5 * scale, `max abs diff ${diff} (max |h| ${scale})`);
  assert.ok(maxAbsDiff(h2, trainer.h.subarray(0, h2.length)) <= 1e-5 * scale);
  assert.ok(session.inputNames.includes('x') && session.inputNames.length === 1, 'weights are initializers, x the only input');
  // `simclr embed` on the same file: the trainer's h for the same images (synthetic's default seed), batches of 2.
  const plain = await openDataset({ name: 'synthetic' }, 'test');
  const expected = await forward.features(plain, full.store, 5);
  const embedded = await embedImages(path, { dataset: { name: 'synthetic', split: 'test' }, limit: 5 }, { batchSize: 2 });
  assert.deepEqual([embedded.count, embedded.dim], [5, expected.dim]);
  assert.deepEqual(Array.from(embedded.labels ?? []), Array.from(expected.labels));
  const embedScale = Math.max(1, ...Array.from(expected.h, Math.abs));
  const embedDiff = maxAbsDiff(embedded.data, expected.h);
  assert.ok(embedDiff <= 1e-5 * embedScale, `embed differs by ${embedDiff} (max |h| ${embedScale})`);
});

test('a valid/ split: epochs before the last are evaluated on it, the last on the test set (logs, TensorBoard tags)', async () => {
  // ImageFolder of real Fashion-MNIST images (PNG): 2 classes, 32 train, 8 valid, 8 test images each.
  const fmnist = await loadMnist({ family: 'fashion-mnist', split: 'test' });
  const root = join(dir, 'folder');
  const counts = { train: 32, valid: 8, test: 8 };
  let next = 0;
  for (const [split, perClass] of Object.entries(counts)) {
    for (const [name, label] of [['sneaker', 7], ['trouser', 1]] as const) {
      await mkdir(join(root, split, name), { recursive: true });
      for (let written = 0; written < perClass; next++) {
        const s = fmnist.getSync(next);
        if (s.label !== label) continue;
        await sharp(Buffer.from(s.image), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(root, split, name, `${next}.png`));
        written++;
      }
    }
  }
  const { logger, records } = lines();
  const imageFolderFlags = flags('valid').map((f) =>
    f === '--dataset=synthetic' ? '--dataset=imagefolder' : f === '--epochs=1' ? '--epochs=2' : f === '--batch-size=128' ? '--batch-size=32' : f === '--knn-k=20' ? '--knn-k=5' : f,
  );
  const result = await train(parseArgs([...imageFolderFlags, `--data-dir=${root}`]), { logger });
  assert.equal(result.step, 4);
  const evals = records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('evaluation on the'));
  assert.deepEqual(
    evals.map((r) => [r.msg, r.epoch, r.split]),
    [
      ['evaluation on the valid set', 1, 'valid'],
      ['evaluation on the test set', 2, 'test'],
    ],
  );
  assert.ok(records().some((r) => r.msg === 'training' && r.train === 64 && r.valid === 16 && r.test === 16), 'the start-up line counts each split');
  const [events] = (await readdir(join(dir, 'runs', 'valid'))).filter((n) => n.startsWith('events.out.tfevents.'));
  const tags = (await readFile(join(dir, 'runs', 'valid', events))).toString('latin1');
  assert.ok(tags.includes('valid/knn_top1') && tags.includes('test/knn_top1') && tags.includes('test/probe_top1'));
  assert.ok(!tags.includes('valid/probe_top1'), 'the linear probe runs once, on the test set');
});

test('--eval-image-size: trains on 12 px crops, evaluates and exports the encoder at 16 px', async () => {
  const { logger, records } = lines();
  const result = await train(parseArgs(flags('fixres', ['--eval-image-size=16'])), { logger });
  const start = records().find((r) => r.msg === 'training');
  assert.equal(start?.input, '1x12x12');
  assert.equal(start?.evalInput, '1x16x16');
  assert.ok(result.eval && result.eval.knnTop1 > 0.3 && result.eval.probeTop1 !== undefined, JSON.stringify(result.eval));
  const ckpt = await latestValid(join(dir, 'models', 'fixres'));
  assert.ok(ckpt);
  const exported = exportEncoder(ckpt);
  assert.equal(exported.metadata['simclr.input_height'], '16');
  assert.equal(exported.metadata['simclr.train_height'], '12');
  const session = await ort.InferenceSession.create(exported.bytes);
  const { h } = await session.run({ x: new ort.Tensor('float32', new Float32Array(2 * 256), [2, 1, 16, 16]) });
  await session.release();
  assert.deepEqual(h.dims, [2, 32]);
});
