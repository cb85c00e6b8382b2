// The seed's --polyak-ema, --early-stop and --weight-initialization on tiny real runs (the synthetic data set, as
// loop.test.ts): what each changes in the weights, the checkpoints, the evaluation and the exported encoder.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { latestValid, loadCheckpoint, manifestPathOf, type LoadedCheckpoint } from '../checkpoint/index.js';
import { ConfigError, parseArgs } from '../contract/index.js';
import { openDataset } from '../data/index.js';
import { ProcessGroup } from '../collectives/index.js';
import type { ParameterStore } from '../engine/index.js';
import { createLogger } from '../observe/index.js';
import { EARLY_STOP_FILE } from './early-stop.js';
import { exportEncoder, readModelMetadata } from './encoder/export.js';
import { evaluateModel } from './evaluation/evaluate-model.js';
import { EvalForward } from './evaluation/features.js';
import { TINY_RUN_FLAGS } from './tiny-run.fixture.js';
import type { TrainResult } from './epoch-loop.js';
import { train } from './loop.js';
import { createEngine } from './run-setup.js';
import { baselines, type BaselineRow } from './evaluation/baseline.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simclr-seed-flags-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet = { logger: createLogger({ destination: { write: () => true }, pretty: false, level: 'warn' }) };

/** The tiny run's flags with `extra` replacing any flag of the same name. */
function flags(uid: string, extra: string[] = []): string[] {
  const names = new Set(extra.map((a) => a.split('=')[0]));
  return [...TINY_RUN_FLAGS.filter((f) => !names.has(f.split('=')[0])), `--uid=${uid}`, `--model-dir=${join(dir, 'models')}`,
    `--log-dir=${join(dir, 'runs')}`, ...extra];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const f32 = (ckpt: LoadedCheckpoint, name: string, from: 'weights' | 'ema' = 'weights'): Float32Array =>
  (from === 'ema' ? ckpt.ema! : ckpt.weights)[name]!.data as Float32Array;

// --- --polyak-ema

const DECAY = 0.9;
let averaged: TrainResult;

test('--polyak-ema: the checkpoints keep avg_k = d avg_(k-1) + (1 - d) w_k over weights and BN statistics', async () => {
  averaged = await train(parseArgs(flags('ema', [`--polyak-ema=${DECAY}`, '--checkpoint-every=1', '--keep-checkpoints=100'])), quiet);
  assert.equal(averaged.step, 16);
  const ckpts = await Promise.all(Array.from({ length: 16 }, (_v, i) => loadCheckpoint(manifestPathOf(join(dir, 'models', 'ema'), i + 1))));
  const names = Object.keys(ckpts[0].weights);
  assert.ok(names.some((n) => n.endsWith('running_var')) && names.some((n) => n.startsWith('head.')), 'buffers and head included');
  let worst = 0;
  let moved = 0;
  for (let k = 1; k < ckpts.length; k++) {
    for (const name of names) {
      const [prev, w, avg] = [f32(ckpts[k - 1], name, 'ema'), f32(ckpts[k], name), f32(ckpts[k], name, 'ema')];
      for (let i = 0; i < avg.length; i++) {
        const expected = DECAY * prev[i] + (1 - DECAY) * w[i];
        worst = Math.max(worst, Math.abs(avg[i] - expected) / Math.max(1, Math.abs(expected)));
        moved = Math.max(moved, Math.abs(avg[i] - w[i]));
      }
    }
  }
  assert.ok(worst <= 1e-6, `the average departs from the recurrence by ${worst}`);
  assert.ok(moved > 1e-2, `the average lags the weights (max |avg - w| ${moved}), so the check above is not vacuous`);
});

test('--polyak-ema: evaluation and the exported encoder use the average', async () => {
  assert.ok(averaged.average);
  const config = parseArgs(flags('ema'));
  const engine = await createEngine(config);
  const group = await ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 1, rendezvousTimeoutMs: 1000, collectiveTimeoutMs: 1000 });
  const [trainSet, testSet] = await Promise.all([openDataset({ name: 'synthetic', seed: config.seed }, 'train'), openDataset({ name: 'synthetic', seed: config.seed }, 'test')]);
  const ckpt = await latestValid(join(dir, 'models', 'ema'));
  assert.ok(ckpt?.ema);
  const forward = EvalForward.create(engine, { model: exportEncoder(ckpt).model, batchSize: 256, height: 12, width: 12 });
  const evaluate = (store: ParameterStore): ReturnType<typeof evaluateModel> =>
    evaluateModel(engine, forward, store, trainSet, testSet, group, { knnK: config.knnK, bank: trainSet.length, probe: true, seed: config.seed });
  assert.deepEqual(averaged.eval, await evaluate(averaged.average));
  assert.notDeepEqual(averaged.eval, await evaluate(averaged.store), 'the live weights score otherwise');
  await group.destroy();
  const metadata = await readModelMetadata(join(dir, 'models', 'ema', 'encoder.onnx'));
  assert.equal(metadata['simclr.weights'], 'polyak-ema');
  const live = exportEncoder({ ...ckpt, ema: undefined });
  assert.notDeepEqual(Buffer.from(live.bytes), Buffer.from(exportEncoder(ckpt).bytes), 'the export changes with the average');
  assert.deepEqual(Buffer.from(await readFile(join(dir, 'models', 'ema', 'encoder.onnx'))), Buffer.from(exportEncoder(ckpt).bytes));
});

test('--polyak-ema: 8 steps + --resume 8 steps ends with the same average (it is checkpointed and resumed)', async () => {
  const flagsOf = (extra: string[]): string[] => flags('ema-resumed', [`--polyak-ema=${DECAY}`, '--checkpoint-every=4', ...extra]);
  await train(parseArgs(flagsOf([])), { ...quiet, stopAfterStep: 8 });
  const resumed = await train(parseArgs(flagsOf(['--resume'])), quiet);
  assert.equal(resumed.step, 16);
  let worst = 0;
  for (const [name, p] of averaged.average!.entries()) worst = Math.max(worst, maxAbsDiff(p.data, resumed.average!.require(name).data));
  assert.equal(worst, 0, `max |uninterrupted - resumed| over the average is ${worst}`);
});

// --- --early-stop

test('--early-stop: stops after --early-stop-patience evaluations without a better kNN top-1; the best checkpoint survives rotation and is what is exported and finally evaluated', async () => {
  // The synthetic set's kNN top-1 saturates near 99% after one epoch, so a later epoch does not beat it for long.
  const r = await train(parseArgs(flags('es', ['--epochs=6', '--early-stop', '--early-stop-patience=1', '--keep-checkpoints=1'])), quiet);
  const runDir = join(dir, 'models', 'es');
  const { history } = JSON.parse(await readFile(join(runDir, EARLY_STOP_FILE), 'utf8')) as { history: Array<{ step: number; knnTop1: number }> };
  assert.deepEqual(history.map((o) => o.step), Array.from({ length: history.length }, (_v, i) => 16 * (i + 1)), 'one evaluation per epoch');
  // The first evaluation that beat none before it by a strict margin ends the run (patience 1).
  const expectedStop = history.findIndex((o, i) => i > 0 && o.knnTop1 <= Math.max(...history.slice(0, i).map((p) => p.knnTop1)));
  assert.ok(expectedStop > 0, `a run of strictly improving kNN top-1 ${JSON.stringify(history)}: the set no longer saturates`);
  assert.equal(history.length, expectedStop + 1, 'the run stopped at the first evaluation without improvement');
  assert.ok(r.earlyStop?.stopped);
  assert.equal(r.step, history.at(-1)!.step);
  assert.ok(r.step < 6 * 16, 'before --epochs');
  const best = history.reduce((a, o) => (o.knnTop1 > a.knnTop1 ? o : a));
  assert.equal(r.earlyStop.bestStep, best.step);
  // --keep-checkpoints=1 keeps the newest and, besides it, the best.
  const manifests = (await readdir(runDir)).filter((n) => n.endsWith('.json') && n.startsWith('step-')).sort();
  assert.deepEqual(manifests, [...new Set([best.step, r.step])].sort((a, b) => a - b).map((s) => `step-${String(s).padStart(10, '0')}.json`));
  const metadata = await readModelMetadata(join(runDir, 'encoder.onnx'));
  assert.equal(metadata['simclr.step'], String(best.step), 'the exported encoder is the best checkpoint');
  // The final evaluation is the best checkpoint's: the same bank and split as the monitor here, so the same kNN top-1.
  assert.equal(r.eval?.knnTop1, best.knnTop1);
  assert.ok(r.eval?.probeTop1 !== undefined, 'with the linear probe');
});

test('--early-stop: a stopped run started again with --resume trains no further and keeps its best encoder', async () => {
  const runDir = join(dir, 'models', 'es');
  const before = await readModelMetadata(join(runDir, 'encoder.onnx'));
  const last = (await latestValid(runDir))!.step;
  const again = await train(parseArgs(flags('es', ['--epochs=6', '--early-stop', '--early-stop-patience=1', '--keep-checkpoints=1', '--resume'])), quiet);
  assert.equal(again.step, last, 'no step taken');
  assert.equal((await latestValid(runDir))!.step, last, 'no checkpoint written');
  assert.deepEqual(again.earlyStop, { bestStep: Number(before['simclr.step']), stopped: true });
  assert.equal((await readModelMetadata(join(runDir, 'encoder.onnx')))['simclr.step'], before['simclr.step']);
});

// --- --weight-initialization

test('--weight-initialization from a checkpoint folder: every weight starts from it (head and classifier too)', async () => {
  const source = await latestValid(join(dir, 'models', 'es'));
  assert.ok(source);
  // One step at a learning rate too small to move a weight by 1e-6 of its size: the weights are the file's.
  const r = await train(parseArgs(flags('init-ckpt', ['--debug-step', '--lr=1e-9', `--weight-initialization=${join(dir, 'models', 'es', `step-${String(source.step).padStart(10, '0')}.json`)}`])), quiet);
  for (const [name, p] of r.store.entries()) {
    if (name.includes('running_')) continue; // one step moves the BN statistics
    const want = f32(source, name);
    const scale = Math.max(...Array.from(want, Math.abs));
    assert.ok(maxAbsDiff(p.data, want) <= 1e-6 * scale, `${name} starts from the checkpoint`);
  }
});

test('--weight-initialization from an encoder.onnx: the encoder starts from it, the head fresh', async () => {
  const onnxPath = join(dir, 'models', 'es', 'encoder.onnx');
  const exported = await loadCheckpoint(manifestPathOf(join(dir, 'models', 'es'), Number((await readModelMetadata(onnxPath))['simclr.step'])));
  const r = await train(parseArgs(flags('init-onnx', ['--debug-step', '--lr=1e-9', `--weight-initialization=${onnxPath}`])), quiet);
  const plain = await train(parseArgs(flags('init-none', ['--debug-step', '--lr=1e-9'])), quiet);
  for (const [name, p] of r.store.entries()) {
    if (name.includes('running_')) continue;
    const fromFile = !name.startsWith('head.') && !name.startsWith('classifier.');
    const want = fromFile ? f32(exported, name) : plain.store.require(name).data;
    const scale = Math.max(1e-3, ...Array.from(want, Math.abs)); // (zero-initialised biases move by ~lr)
    assert.ok(maxAbsDiff(p.data, want) <= 1e-6 * scale, `${name} ${fromFile ? 'from the encoder' : 'as a fresh run'}`);
    if (fromFile && p.shape.length > 1) {
      assert.ok(maxAbsDiff(p.data, plain.store.require(name).data) > 1e-3 * scale, `${name} differs from the default init`);
    }
  }
});

test('simclr baseline with --weight-initialization scores that encoder beside random init and raw pixels', async () => {
  const trained = join(dir, 'models', 'es');
  const rows = await baselines(parseArgs(flags('baseline', [`--weight-initialization=${trained}`])));
  assert.deepEqual(rows.map((r) => r.features), ['random-init', 'weight-initialization', 'raw-pixels', 'raw-pixels-at-input-size']);
  const [random, initial] = rows as [BaselineRow, BaselineRow];
  assert.equal(initial.dim, random.dim);
  // The trained encoder, not the random one again: a run trained on this set embeds it better.
  assert.ok(initial.knnTop1 > random.knnTop1, `kNN top-1 ${initial.knnTop1} (trained) vs ${random.knnTop1} (random)`);
  await assert.rejects(baselines(parseArgs(flags('baseline', [`--weight-initialization=${join(dir, 'nope.onnx')}`]))),
    (err: unknown) => err instanceof ConfigError && /--weight-initialization=.*nope\.onnx: no such file/.test(err.message));
});

test('--weight-initialization: a missing, unreadable or incompatible file is a ConfigError naming the flag, before any step', async () => {
  const notACheckpoint = join(dir, 'notes.json');
  await writeFile(notACheckpoint, '{"step": "last"}\n');
  const cases: Array<[string, string[], RegExp]> = [
    [join(dir, 'nope.onnx'), [], /--weight-initialization=.*nope\.onnx: no such file or folder/],
    ['kaiming_normal', [], /--weight-initialization=kaiming_normal: the seed's init schemes are not supported/],
    [notACheckpoint, [], /not a readable checkpoint .*invalid manifest/],
    [join(dir, 'models', 'es', 'encoder.onnx'), ['--width-multiplier=0.125'], /the encoder has shape \[.*\], not \[.*\], for conv1\.weight.*--width-multiplier/],
  ];
  for (const [path, extra, pattern] of cases) {
    const uid = `bad-${cases.findIndex((c) => c[0] === path)}`;
    await assert.rejects(train(parseArgs(flags(uid, ['--debug-step', `--weight-initialization=${path}`, ...extra])), quiet), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.flag, 'weight-initialization');
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    assert.deepEqual(await readdir(join(dir, 'models', uid)).catch(() => []), [], 'no checkpoint written');
  }
});
