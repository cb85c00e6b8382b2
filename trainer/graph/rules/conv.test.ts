import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import * as op from '../ops.js';
import { Graph } from '../graph.js';
import { gradients } from '../autodiff.js';
import { gradCheck } from '../testing/gradcheck.js';
import { TEST_TARGET, compileForTest, randn } from '../testing/ort.js';
import { chooseForwardMethod, chooseInputGradMethod, convGeometry, convInputGrad, type InputGradMethod } from './conv.js';
import { chooseWeightGradMethod, convWeightGrad, type WeightGradMethod } from './conv-weight-grad.js';

// Each geometry checked against finite differences for both dX and dW (the default dW formulation).
const cases: { name: string; x: number[]; w: number[]; opts: op.Conv2dOptions }[] = [
  { name: '3x3 pad 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], opts: { padding: 1 } },
  { name: '3x3 stride 2 pad 1 (odd input: a dropped row)', x: [2, 2, 6, 7], w: [3, 2, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: '1x1', x: [2, 3, 4, 4], w: [5, 3, 1, 1], opts: {} },
  { name: '1x1 on a tiny map (images grouped per GEMM)', x: [4, 3, 2, 2], w: [6, 3, 1, 1], opts: {} },
  { name: '3x3 pad 1, 16 channels (the flipped-conv dX and taps-batched dW path)', x: [2, 16, 4, 4], w: [3, 16, 3, 3], opts: { padding: 1 } },
  { name: '3x3 pad 1 on a 16x16 map, 16 channels (the rows-cols dW path)', x: [1, 16, 16, 16], w: [2, 16, 3, 3], opts: { padding: 1 } },
  { name: '3x3 stride 2 pad 1 on a tiny map, 16 -> 64 channels (the gemm-col2im dX and im2col-gather-cm dW path)', x: [2, 16, 4, 4], w: [64, 16, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: '1x1 stride 2 (odd input: the last row has no output)', x: [2, 3, 5, 5], w: [2, 3, 1, 1], opts: { stride: 2 } },
  { name: '1x1 stride 2, even input', x: [2, 3, 4, 6], w: [2, 3, 1, 1], opts: { stride: 2 } },
  { name: '3x3 dilation 2 pad 2', x: [1, 2, 7, 7], w: [2, 2, 3, 3], opts: { dilation: 2, padding: 2 } },
  { name: '3x3 pad 2 (the output larger than the input)', x: [2, 2, 5, 6], w: [3, 2, 3, 3], opts: { padding: 2 } },
  { name: '2x3 kernel, stride (2,1), pad (0,1)', x: [2, 2, 5, 6], w: [3, 2, 2, 3], opts: { stride: [2, 1], padding: [0, 1] } },
  { name: '7x7 stride 2 pad 3 (ImageNet stem)', x: [1, 3, 9, 9], w: [2, 3, 7, 7], opts: { stride: 2, padding: 3 } },
];

for (const c of cases) {
  test(`Conv ${c.name}: dX and dW match finite differences`, async () => {
    await gradCheck([{ shape: c.x }, { shape: c.w }], (x, w) => op.conv2d(x, w, c.opts), { maxPoints: 40 });
  });
}

// The forward as Gather + GEMM: its gradients come from autodiff through Gather's col2im rule, the GEMM and reshapes.
const gemmCases = cases.filter((c) => c.w[2]! * c.w[3]! > 1);

// Training graphs use it on the CPU only (chooseForwardMethod): a device target's pass skips it.
const cpuFormsOnly = TEST_TARGET === 'cpu' ? false : `the Gather + GEMM forward is a CPU form; ${TEST_TARGET} never builds it`;

for (const c of gemmCases) {
  test(`Conv as Gather + GEMM, ${c.name}: dX and dW match finite differences`, { skip: cpuFormsOnly }, async () => {
    await gradCheck([{ shape: c.x }, { shape: c.w }], (x, w) => op.conv2d(x, w, { ...c.opts, forward: 'gemm' }), { maxPoints: 40 });
  });
}

test('the Gather + GEMM forward gives the ONNX Conv\'s output on every geometry', async () => {
  for (const c of gemmCases) {
    const g = new Graph('fwd');
    const x = g.input('x', c.x);
    const w = g.input('w', c.w);
    g.output('conv', op.conv2d(x, w, c.opts));
    g.output('gemm', op.conv2d(x, w, { ...c.opts, forward: 'gemm' }));
    assert.ok(g.nodes.some((n) => n.opType === 'Gather'), `${c.name}: the gemm form was built`);
    const r = await (await compileForTest(g)).run({ x: randn(x.size, 3), w: randn(w.size, 4) });
    const [a, b] = [r['conv']!, r['gemm']!];
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `${c.name}: y[${i}] ${b[i]} vs ${a[i]}`);
  }
});

test('the forward runs as a GEMM only on small maps with >= 16 channels', () => {
  const recipe = (c: number, hw: number, stride = 1): ReturnType<typeof convGeometry> =>
    convGeometry([256, c, hw, hw], [2 * c, c, 3, 3], { stride, padding: 1 });
  assert.equal(chooseForwardMethod(recipe(64, 2)), 'gemm'); // make run's layer4 (2x2 maps)
  assert.equal(chooseForwardMethod(recipe(32, 4)), 'gemm'); // layer3
  assert.equal(chooseForwardMethod(recipe(32, 4, 2)), 'gemm'); // layer4.0, strided onto 2x2
  assert.equal(chooseForwardMethod(recipe(16, 8)), 'conv'); // layer2: 8x8 outputs
  assert.equal(chooseForwardMethod(recipe(8, 16)), 'conv'); // layer1
  assert.equal(chooseForwardMethod(convGeometry([256, 64, 2, 2], [128, 64, 1, 1], {})), 'conv'); // 1x1: a GEMM already
});

test('every dW formulation agree on every geometry', async () => {
  const methods: WeightGradMethod[] = ['auto', 'im2col-gather', 'im2col-gather-cm', 'im2col-conv', 'taps-batched', 'rows-cols', 'im2col-conv-sep', 'conv'];
  for (const c of cases) {
    const g = new Graph('dw');
    const x = g.input('x', c.x);
    const geo = convGeometry(c.x, c.w, c.opts);
    const dy = g.input('dy', [geo.n, geo.o, geo.ho, geo.wo]);
    for (const m of methods) g.output(m, convWeightGrad(x, dy, geo, m));
    const r = await (await compileForTest(g)).run({ x: randn(x.size, 1), dy: randn(dy.size, 2) });
    for (const m of methods.slice(1)) {
      const a = r[methods[0]!]!;
      const b = r[m]!;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `${c.name}: ${m}[${i}] ${b[i]} vs ${a[i]}`);
    }
  }
});

test('every dX formulation agrees on every geometry (each falls back to ConvTranspose where it does not apply)', async () => {
  for (const c of cases) {
    const g = new Graph('dx');
    const w = g.input('w', c.w);
    const geo = convGeometry(c.x, c.w, c.opts);
    const dy = g.input('dy', [geo.n, geo.o, geo.ho, geo.wo]);
    g.output('a', convInputGrad(dy, w, geo, 'conv-transpose'));
    const others: InputGradMethod[] = ['flipped-conv', 'auto', 'gemm-col2im', 'col2im-op'];
    for (const m of others) g.output(m, convInputGrad(dy, w, geo, m));
    const r = await (await compileForTest(g)).run({ w: randn(w.size, 1), dy: randn(dy.size, 2) });
    const a = r['a']!;
    for (const m of others) {
      const b = r[m]!;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `${c.name}: ${m} dx[${i}] ${b[i]} vs ${a[i]}`);
    }
  }
});

test('a strided 1x1 dX spreads its rows by a GEMM where the map divides by the stride, else by Col2Im; both exact', async () => {
  const opTypes = (g: Graph): string[] => (onnxProto.onnx.ModelProto.decode(g.toOnnx()).graph!.node ?? []).map((n) => String(n.opType));
  for (const [x, interleaved] of [[[2, 3, 4, 6], true], [[2, 3, 5, 5], false]] as const) {
    const geo = convGeometry(x, [4, 3, 1, 1], { stride: 2 });
    const g = new Graph('dx1x1');
    const w = g.input('w', [4, 3, 1, 1]);
    const dy = g.input('dy', [geo.n, geo.o, geo.ho, geo.wo]);
    g.output('cols', convInputGrad(dy, w, geo, 'col2im-op'));
    g.output('ref', convInputGrad(dy, w, geo, 'conv-transpose'));
    const ops = opTypes(g);
    assert.equal(ops.includes('Col2Im'), !interleaved, ops.join(' '));
    assert.equal(ops.filter((o) => o === 'MatMul').length, interleaved ? 2 : 1, ops.join(' '));
    const r = await (await compileForTest(g)).run({ w: randn(12, 3), dy: randn(dy.size, 4) });
    const [a, b] = [r['cols']!, r['ref']!];
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `${x}: dx[${i}] ${a[i]} vs ConvTranspose ${b[i]}`);
      const [row, col] = [Math.floor(i / geo.w) % geo.h, i % geo.w];
      if (row % 2 || col % 2) assert.equal(a[i], 0, `${x}: dx[${i}] off the stride's grid`);
    }
  }
});

test('tiny maps get the one-GEMM formulations, larger ones keep theirs', () => {
  const tinyStrided = convGeometry([64, 128, 8, 8], [256, 128, 3, 3], { stride: 2, padding: 1 });
  assert.equal(chooseInputGradMethod(tinyStrided), 'gemm-col2im');
  assert.equal(chooseWeightGradMethod(tinyStrided), 'im2col-gather-cm');
  const big = convGeometry([64, 64, 32, 32], [64, 64, 3, 3], { padding: 1 });
  assert.equal(chooseInputGradMethod(big), 'flipped-conv');
  assert.equal(chooseWeightGradMethod(big), 'rows-cols');
  assert.equal(chooseWeightGradMethod(convGeometry([256, 32, 16, 16], [32, 32, 3, 3], { padding: 1 })), 'rows-cols'); // make run's layer1
  assert.equal(chooseWeightGradMethod(convGeometry([256, 64, 8, 8], [64, 64, 3, 3], { padding: 1 })), 'im2col-gather-cm'); // layer2
  const pointwise = convGeometry([64, 64, 16, 16], [256, 64, 1, 1], {});
  assert.equal(chooseInputGradMethod(pointwise), 'flipped-conv');
  assert.equal(chooseWeightGradMethod(pointwise), 'taps-batched');
  const thin = convGeometry([512, 8, 16, 16], [8, 8, 3, 3], { padding: 1 }); // make run's layer1 (width 1/8)
  assert.equal(chooseInputGradMethod(thin), 'flipped-conv');
  const rgbStem = convGeometry([64, 3, 32, 32], [64, 3, 3, 3], { padding: 1 });
  assert.equal(chooseInputGradMethod(rgbStem), 'conv-transpose');
  const bigStrided = convGeometry([64, 64, 32, 32], [128, 64, 3, 3], { stride: 2, padding: 1 });
  assert.equal(chooseInputGradMethod(bigStrided), 'conv-transpose'); // onto 16x16: wide per-image GEMMs
  assert.equal(chooseInputGradMethod(convGeometry([256, 32, 16, 16], [64, 32, 3, 3], { stride: 2, padding: 1 })), 'col2im-op'); // make run's layer2.0
  const stridedShortcut = convGeometry([256, 32, 16, 16], [64, 32, 1, 1], { stride: 2 }); // make run's layer2.0
  assert.equal(chooseInputGradMethod(stridedShortcut), 'col2im-op');
  const hugeStrided = convGeometry([4096, 64, 16, 16], [128, 64, 3, 3], { stride: 2, padding: 1 }); // cols: 1.2 GB
  assert.equal(chooseInputGradMethod(hugeStrided), 'conv-transpose');
  const hugeBatch = convGeometry([4096, 128, 16, 16], [128, 128, 3, 3], { padding: 1 }); // patches would be 4.8 GB
  assert.equal(chooseWeightGradMethod(hugeBatch), 'taps-batched'); // and rows-cols' shifted copies 1.6 GB each
  assert.equal(chooseWeightGradMethod(hugeBatch, { transposedBy: hugeBatch }), 'taps-batched');
  // The shortcut alone subsamples x with a Conv; beside its block's 3x3 (same input) it shares that dW's transpose.
  assert.equal(chooseWeightGradMethod(stridedShortcut), 'im2col-conv');
  const stridedBlock = convGeometry([256, 32, 16, 16], [64, 32, 3, 3], { stride: 2, padding: 1 });
  assert.equal(chooseWeightGradMethod(stridedShortcut, { transposedBy: stridedBlock }), 'im2col-gather-cm');
  const imagenetStem = (n: number, px: number): ReturnType<typeof convGeometry> => convGeometry([n, 3, px, px], [64, 3, 7, 7], { stride: 2, padding: 3 });
  assert.equal(chooseWeightGradMethod(imagenetStem(64, 64)), 'im2col-conv-sep');
  assert.equal(chooseWeightGradMethod(imagenetStem(256, 224)), 'conv'); // patches: 1.9 G entries
});

// Two blocks: in the first both dWs would group images alike by themselves; in the second the 3x3's dW is too big to
// group them (imageGroups) and the shortcut's must follow it.
for (const [c, o] of [[16, 32], [64, 128]] as const) {
test(`a downsampling block's two dWs share one transposed copy of the block input once ORT has optimized the graph (C${c} -> ${o})`, async () => {
  const g = new Graph('downsample');
  const x = g.input('x', [8, c, 8, 8]);
  const w3 = g.param('w3', [o, c, 3, 3]);
  const w1 = g.param('w1', [o, c, 1, 1]);
  const y = op.add(op.conv2d(x, w3, { stride: 2, padding: 1 }), op.conv2d(x, w1, { stride: 2 }));
  const dyData = randn(8 * o * 4 * 4, 4);
  const [d3, d1] = gradients(op.reduceSum(op.mul(y, g.constant(dyData, y.shape))), [w3, w1]); // dL/dy = dyData
  g.output('d3', d3!);
  g.output('d1', d1!);
  const dir = mkdtempSync(join(tmpdir(), 'cse-'));
  try {
    const optimized = join(dir, 'optimized.onnx');
    await ort.InferenceSession.create(g.toOnnx(), { graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized, logSeverityLevel: 3 });
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(optimized));
    // x itself or a Reshape of it (the image groups of im2col-gather-cm)
    const views = new Set(['x', ...model.graph!.node!.filter((n) => n.opType === 'Reshape' && n.input![0] === 'x').map((n) => n.output![0]!)]);
    const transposesOfX = model.graph!.node!.filter((n) => n.opType === 'Transpose' && views.has(n.input![0]!));
    assert.equal(transposesOfX.length, 1, `Transposes reading x: ${transposesOfX.map((n) => n.name).join(', ')}`);
    // ... and both patch Gathers read it (through its Reshape and the Concat of a zero row).
    const readers = (name: string): onnxProto.onnx.INodeProto[] => model.graph!.node!.filter((n) => n.input!.includes(name));
    let next = readers(transposesOfX[0]!.output![0]!);
    while (next.length === 1 && next[0]!.opType !== 'Gather') next = readers(next[0]!.output![0]!);
    assert.deepEqual(next.map((n) => n.opType), ['Gather', 'Gather']);
    // The shared form gives what the textbook formulation gives.
    const ref = new Graph('downsample_ref');
    const rx = ref.input('x', x.shape);
    const rdy = ref.input('dy', y.shape);
    ref.output('d3', convWeightGrad(rx, rdy, convGeometry(x.shape, w3.shape, { stride: 2, padding: 1 }), 'conv'));
    ref.output('d1', convWeightGrad(rx, rdy, convGeometry(x.shape, w1.shape, { stride: 2 }), 'conv'));
    const feeds = { x: randn(x.size, 1), w3: randn(w3.size, 2), w1: randn(w1.size, 3) };
    const got = await (await compileForTest(g)).run(feeds);
    const want = await (await compileForTest(ref)).run({ x: feeds.x, dy: dyData });
    for (const k of ['d3', 'd1']) {
      for (let i = 0; i < want[k]!.length; i++) assert.ok(Math.abs(got[k]![i]! - want[k]![i]!) < 1e-3, `${k}[${i}] ${got[k]![i]} vs ${want[k]![i]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
}

test('the one-hot shift Convs (im2col-conv, im2col-conv-sep, rows-cols) and a 1x1 subsample stay in NCHW once ORT has optimized the graph', async () => {
  // One group would be rewritten into an NCHWc Conv whose ReorderOutput cost more than the Conv (bench/README.md);
  // a strided 1x1's one-hot Conv, one output per group, into a depthwise NCHWc Conv: it subsamples by MaxPool instead.
  const shift = convGeometry([4, 2, 8, 8], [8, 2, 3, 3], { padding: 1 });
  const strided1x1 = convGeometry([4, 2, 8, 8], [8, 2, 1, 1], { stride: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'nchw-'));
  try {
    const cases = [['im2col-conv', shift, 1], ['im2col-conv-sep', shift, 2], ['rows-cols', shift, 2], ['im2col-conv', strided1x1, 0]] as const;
    for (const [method, geo, convs] of cases) {
      const what = `${method} ${geo.kh}x${geo.kw} s${geo.stride[0]}`;
      const g = new Graph('dw');
      g.output('dw', convWeightGrad(g.input('x', [geo.n, geo.c, geo.h, geo.w]), g.input('dy', [geo.n, geo.o, geo.ho, geo.wo]), geo, method));
      const optimized = join(dir, `${method}-${geo.kh}.onnx`);
      await ort.InferenceSession.create(g.toOnnx(), { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 });
      const nodes = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!;
      const conv = nodes.filter((n) => n.opType === 'Conv');
      assert.equal(conv.length, convs, what);
      for (const n of [...conv, ...nodes.filter((n) => n.opType === 'MaxPool')]) assert.equal(n.domain ?? '', '', `${what}: ${n.opType} runs as ${n.domain}.${n.opType}`);
      assert.deepEqual(nodes.filter((n) => n.opType?.startsWith('Reorder')).map((n) => n.opType), [], what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no dX is built for a graph input that needs no gradient (first conv on images)', () => {
  const g = new Graph('nodx');
  const x = g.input('x', [1, 1, 4, 4]);
  const w = g.param('w', [1, 1, 3, 3]);
  gradients(op.reduceSum(op.conv2d(x, w, { padding: 1 })), [w]);
  assert.ok(!g.nodes.some((n) => n.opType === 'ConvTranspose'));
});
