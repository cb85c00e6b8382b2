import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  DISTRIBUTED_ENV,
  FLAG_SPECS,
  ProgressDocument,
  TRAIN_CONFIG_DEFAULTS,
  TrainConfig,
  helpText,
  initialProgress,
  parseArgs,
  toArgs,
  trainConfigJsonSchema,
} from './index.js';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `error is not one line: ${err.message}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('no flags gives the documented defaults', () => {
  const c = parseArgs([]);
  assert.equal(c.batchSize, 256);
  assert.equal(c.dataset, 'auto'); // fashion-mnist without --data-dir (trainer/data/detect.ts)
  assert.equal(c.logDir, './runs');
  assert.equal(c.knnK, 200);
  assert.equal(c.optimizer, 'lars');
  assert.equal(c.numReplicas, 1);
  assert.deepEqual(c, TRAIN_CONFIG_DEFAULTS);
});

test('both --flag=value and --flag value forms, booleans and --no-', () => {
  const c = parseArgs(['--batch-size=64', '--epochs', '3', '--debug-step', '--lr', '1e-3', '--no-resume']);
  assert.equal(c.batchSize, 64);
  assert.equal(c.epochs, 3);
  assert.equal(c.debugStep, true);
  assert.equal(c.lr, 0.001);
  assert.equal(c.resume, false);
  assert.equal(parseArgs(['--convert-to-sync-bn=false']).convertToSyncBn, false);
});

test('--half is --precision=fp16, and conflicts with an explicit precision', () => {
  assert.equal(parseArgs(['--half', '--execution-provider=webgpu']).precision, 'fp16');
  assert.equal(parseArgs(['--precision=fp16', '--execution-provider=cuda']).precision, 'fp16');
  const err = errorOf(() => parseArgs(['--half', '--precision=fp32']));
  assert.equal(err.flag, 'precision');
});

test('--half on the CPU provider (no float16 kernels) is refused up front, naming both flags and the fix', () => {
  for (const args of [['--half'], ['--precision=fp16', '--execution-provider=cpu']]) {
    const err = errorOf(() => parseArgs(args));
    assert.equal(err.flag, 'precision');
    assert.match(err.message, /^--precision=fp16 needs the float16 kernels of a GPU provider, which --execution-provider=cpu is not: use the webgpu or cuda provider, or precision fp32$/);
  }
});

test('bad values are one-line errors naming the flag and what is allowed', () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['--batch-size=abc'], 'batch-size', /--batch-size=abc.*integer/],
    [['--batch-size=1.5'], 'batch-size', /integer/],
    [['--batch-size=0'], 'batch-size', /--batch-size=0 is not valid.*2, 65536/],
    [['--arch=resnet101'], 'arch', /--arch=resnet101.*resnet18\|resnet34\|resnet50/],
    [['--optimizer=nadam'], 'optimizer', /lars\|sgd\|adam\|adamw/],
    [['--lr=0'], 'lr', /--lr=0/],
    [['--momentum=1'], 'momentum', /--momentum=1/],
    [['--debug-step=maybe'], 'debug-step', /true\|false/],
    [['--batch-sise=3'], 'batch-sise', /unknown flag --batch-sise: did you mean --batch-size\?/],
    [['--visdom-url=http://vis:8097'], 'visdom-url', /seed implementation: visdom is not supported.*TensorBoard.*drop the flag/],
    [['--task=dali_multi_augment_image_folder'], 'task', /seed implementation: .*--dataset picks the data/],
    [['--epochs'], 'epochs', /--epochs needs a value/],
    [['train'], 'train', /unexpected argument "train"/],
    [['--seed=1', '--seed=2'], 'seed', /given twice/],
    [['--uid=a/b'], 'uid', /--uid=a\/b/],
  ];
  for (const [argv, flag, pattern] of cases) {
    const err = errorOf(() => parseArgs(argv));
    assert.equal(err.flag, flag, argv.join(' '));
    assert.match(err.message, pattern);
  }
});

test('gradient-cache chunks must divide the local batch; sync BN is refused where chunks split it', () => {
  let err = errorOf(() => parseArgs(['--batch-size=256', '--num-replicas=2', '--gradient-cache-chunk=48']));
  assert.equal(err.flag, 'gradient-cache-chunk');
  assert.match(err.message, /--gradient-cache-chunk=48 does not divide the local batch \(--batch-size=256 \/ --num-replicas=2\)/);
  // Replicas that each run their local batch as one chunk: the statistics span the global batch.
  assert.equal(parseArgs(['--batch-size=256', '--num-replicas=2', '--convert-to-sync-bn']).convertToSyncBn, true);
  assert.equal(parseArgs(['--batch-size=256', '--num-replicas=2', '--gradient-cache-chunk=128', '--convert-to-sync-bn']).convertToSyncBn, true);
  err = errorOf(() => parseArgs(['--batch-size=256', '--num-replicas=2', '--gradient-cache-chunk=64', '--convert-to-sync-bn']));
  assert.equal(err.flag, 'convert-to-sync-bn');
  assert.match(err.message, /--convert-to-sync-bn needs each replica's batch in one chunk, and --gradient-cache-chunk=64 splits it/);
  err = errorOf(() => parseArgs(['--batch-size=256', '--gradient-cache-chunk=64', '--convert-to-sync-bn']));
  assert.equal(err.flag, 'convert-to-sync-bn');
  assert.equal(parseArgs(['--batch-size=256', '--convert-to-sync-bn']).convertToSyncBn, true);
  assert.equal(parseArgs(['--batch-size=256', '--num-replicas=2', '--gradient-cache-chunk=64']).gradientCacheChunk, 64);
});

test('cross-field rules name the flag and the fix', () => {
  let err = errorOf(() => parseArgs(['--batch-size=100', '--num-replicas=3']));
  assert.equal(err.flag, 'batch-size');
  assert.match(err.message, /--batch-size=100 is not divisible by --num-replicas=3/);
  err = errorOf(() => parseArgs(['--num-replicas=2', '--distributed-rank=2']));
  assert.equal(err.flag, 'distributed-rank');
  err = errorOf(() => parseArgs(['--batch-size=64', '--num-replicas=2', '--gradient-cache-chunk=64']));
  assert.match(err.message, /--gradient-cache-chunk=64 does not divide the local batch \(--batch-size=64 \/ --num-replicas=2\)/);
  err = errorOf(() => parseArgs(['--dataset=imagefolder']));
  assert.equal(err.flag, 'data-dir');
  assert.match(err.message, /required for --dataset=imagefolder/);
});

test('env RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT fill the distributed flags', () => {
  const env = { RANK: '3', WORLD_SIZE: '4', MASTER_ADDR: 'job-0.job', MASTER_PORT: '23456' };
  const c = parseArgs(['--batch-size=64'], env);
  assert.equal(c.distributedRank, 3);
  assert.equal(c.numReplicas, 4);
  assert.equal(c.distributedMaster, 'job-0.job');
  assert.equal(c.distributedPort, 23456);
  // A flag that agrees with env is fine; one that disagrees is an error, never silently ignored.
  assert.equal(parseArgs(['--distributed-rank=3'], env).distributedRank, 3);
  const err = errorOf(() => parseArgs(['--distributed-rank=0'], env));
  assert.equal(err.flag, 'distributed-rank');
  assert.match(err.message, /disagrees with env RANK=3/);
  // Bad env values and env values inconsistent with each other are errors too.
  assert.match(errorOf(() => parseArgs([], { RANK: 'x' })).message, /^env RANK=x is not valid for --distributed-rank: use an integer/);
  assert.equal(parseArgs(['--distributed-port=029300'], { MASTER_PORT: '29300' }).distributedPort, 29300);
  assert.equal(errorOf(() => parseArgs([], { RANK: '2', WORLD_SIZE: '2' })).flag, 'distributed-rank');
});

test('toArgs is the inverse of parseArgs and omits defaults', () => {
  assert.deepEqual(toArgs({}), []);
  const config = TrainConfig.parse({
    batchSize: 512,
    numReplicas: 4,
    distributedRank: 2,
    arch: 'resnet50',
    debugStep: true,
    dataDir: '/data/imagenet',
    dataset: 'imagefolder',
    lr: 4.8,
    precision: 'fp16',
    executionProvider: 'webgpu',
    uid: 'run-1',
    warmup: 0.5,
  });
  const args = toArgs(config);
  assert.ok(args.includes('--batch-size=512'));
  assert.ok(args.includes('--debug-step'));
  assert.ok(!args.some((a) => a.startsWith('--epochs')), 'default epochs is not emitted');
  assert.deepEqual(parseArgs(args), config);
  assert.throws(() => toArgs({ batchSize: 3, numReplicas: 2 }));
});

test('help documents every flag with its default and range', () => {
  const help = helpText();
  for (const spec of FLAG_SPECS) {
    assert.ok(help.includes(`--${spec.flag}`), spec.flag);
    assert.ok(spec.description.length > 10, `${spec.flag} has a description`);
  }
  assert.match(help, /--batch-size=<integer>\n\s+Global batch size.*\[default 256; range \[2, 65536\]\]/);
  assert.match(help, /--dataset=auto\|fashion-mnist\|mnist\|synthetic\|imagefolder\|cifar10\|cifar100/);
  const required = ['data-dir', 'dataset', 'batch-size', 'epochs', 'lr', 'lr-scaling', 'arch', 'stem',
    'width-multiplier', 'head-latent-size', 'nce-size', 'nce-temperature', 'optimizer',
    'momentum', 'weight-decay', 'warmup', 'lr-update-schedule', 'clip', 'seed', 'uid', 'debug-step', 'model-dir',
    'log-dir', 'checkpoint-every', 'resume', 'execution-provider', 'threads', 'image-size-override',
    'workers-per-replica', 'precision', 'num-replicas', 'distributed-master', 'distributed-port', 'distributed-rank',
    'rendezvous-timeout', 'collective-timeout', 'gradient-cache-chunk', 'convert-to-sync-bn', 'progress-port', 'knn-k'];
  const flags = new Set(FLAG_SPECS.map((s) => s.flag));
  for (const f of required) assert.ok(flags.has(f), `missing --${f}`);
});

test('progress document: initial document validates; bad ones are rejected', () => {
  const doc = initialProgress({ uid: 'r', worldSize: 2, epochs: 10, totalSteps: 2340, now: new Date(0) });
  assert.deepEqual(ProgressDocument.parse(doc), doc);
  assert.equal(doc.startedAt, '1970-01-01T00:00:00.000Z');
  const running = {
    ...doc,
    phase: 'training',
    step: 100,
    loss: 5.1,
    lr: 0.3,
    imagesPerSecond: 812.5,
    etaSeconds: 600,
    top1: 0.71,
    lastCheckpoint: { path: '/ckpt/step-100.safetensors', step: 100, epoch: 0, time: '2026-01-01T00:00:00Z' },
  };
  assert.equal(ProgressDocument.parse(running).loss, 5.1);
  assert.equal(ProgressDocument.safeParse({ ...running, phase: 'sleeping' }).success, false);
  assert.equal(ProgressDocument.safeParse({ ...running, loss: Infinity }).success, false);
  assert.equal(ProgressDocument.safeParse({ ...running, top1: 71 }).success, false);
  assert.equal(ProgressDocument.safeParse({ ...running, step: -1 }).success, false);
});

test('JSON schema for the operator: every flag with type, default and range', () => {
  const schema = trainConfigJsonSchema() as { properties: Record<string, { type?: string; default?: unknown; minimum?: number; enum?: string[] }> };
  assert.equal(schema.properties.batchSize.type, 'integer');
  assert.equal(schema.properties.batchSize.default, 256);
  assert.equal(schema.properties.batchSize.minimum, 2);
  assert.deepEqual(schema.properties.arch.enum, ['resnet18', 'resnet34', 'resnet50']);
  assert.equal(Object.keys(schema.properties).length, FLAG_SPECS.length);
  assert.deepEqual(DISTRIBUTED_ENV.map((e) => e.env), ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT']);
});
