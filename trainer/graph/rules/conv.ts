// 2-D convolution (groups=1). Forward: ONNX Conv, or on small maps in training graphs one Gather + GEMM
// (chooseForwardMethod). Backward: dX as a forward Conv with the flipped kernel, a GEMM + Col2Im or a
// ConvTranspose, dW as GEMMs over kernel taps or over im2col patches; which one per layer geometry is chosen by
// measurement (bench/conv-grad.ts, bench/README.md), see chooseInputGradMethod and conv-weight-grad.ts.

import { type Node, type Value, fmtShape } from '../ir.js';
import { type Lowerer, defineOp } from '../registry.js';
import { hasKernel, type KernelTarget } from '../target.js';
import type { Graph } from '../graph.js';
import { emit1, sameDType } from './util.js';
import { chooseWeightGradMethod, convWeightGrad } from './conv-weight-grad.js';
import { convAsGemm, fitsCol2im, fitsGemmForward, gemmCol2im, patchesFit } from './conv-gather.js';
import { reshape, transpose } from './shape.js';
import { matmul } from './matmul.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  /** Symmetric zero padding per spatial axis. */
  padding?: Pair;
  dilation?: Pair;
  /**
   * How the forward runs: 'conv' (default) is one ONNX Conv, what an exported model should hold; 'auto' takes
   * the faster 'gemm' form on the geometries chooseForwardMethod picks (training and evaluation graphs).
   */
  forward?: ForwardMethod | 'auto';
}

export type ForwardMethod = 'conv' | 'gemm';

/** Static geometry of one conv: everything the forward and both gradients need. */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  stride: [number, number]; pad: [number, number]; dilation: [number, number];
  ho: number; wo: number;
}

const pair = (p: Pair | undefined, dflt: number): [number, number] =>
  p === undefined ? [dflt, dflt] : typeof p === 'number' ? [p, p] : [p[0], p[1]];

export function convGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): ConvGeometry {
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new Error(`conv2d: expected x[N,C,H,W] and w[O,C,kh,kw], got ${fmtShape(xShape)} and ${fmtShape(wShape)}`);
  }
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [o, cw, kh, kw] = wShape as [number, number, number, number];
  if (c !== cw) throw new Error(`conv2d: x has ${c} channels but w expects ${cw} (groups=1 only)`);
  const stride = pair(opts.stride, 1);
  const pad = pair(opts.padding, 0);
  const dilation = pair(opts.dilation, 1);
  const ho = Math.floor((h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const wo = Math.floor((w + 2 * pad[1] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (ho < 1 || wo < 1) throw new Error(`conv2d: kernel ${kh}x${kw} does not fit input ${h}x${w} with padding ${pad.join(',')}`);
  return { n, c, h, w, o, kh, kw, stride, pad, dilation, ho, wo };
}

function convAttrs(g: ConvGeometry): Record<string, { kind: 'ints'; value: number[] }> {
  return {
    kernel_shape: { kind: 'ints', value: [g.kh, g.kw] },
    strides: { kind: 'ints', value: [...g.stride] },
    pads: { kind: 'ints', value: [g.pad[0], g.pad[1], g.pad[0], g.pad[1]] },
    dilations: { kind: 'ints', value: [...g.dilation] },
  };
}

/**
 * x[N,C,H,W] * w[O,C,kh,kw] -> [N,O,Ho,Wo]. The layer's nodes get a scope of their own, 'conv<k>' (k-th conv2d in
 * its graph), and autodiff puts their gradients in 'grad/conv<k>', dX and dW of a Conv node in '.dx' / '.dw' below
 * that: ORT's profiler then times each layer's forward and gradients apart (bench/train-step.ts --per-conv).
 */
export function conv2d(x: Value, w: Value, opts: Conv2dOptions = {}): Value {
  sameDType('conv2d', x, w);
  const g = convGeometry(x.shape, w.shape, opts);
  const method = opts.forward === 'auto' ? chooseForwardMethod(g, x.graph.target) : opts.forward ?? 'conv';
  const graph = x.graph;
  const layer = registerLayer(graph, g);
  return graph.withScope(graph.currentScope ? `${graph.currentScope}/${layer}` : layer, () =>
    method === 'gemm' && fitsGemmForward(g) ? convAsGemm(x, w, g) : emit1('Conv', [x, w], convAttrs(g), [g.n, g.o, g.ho, g.wo]));
}

const layers = new WeakMap<Graph, Map<string, ConvGeometry>>();

/** The graph's conv2d layers by scope label ('conv<k>'), in build order. */
export function convLayers(graph: Graph): ReadonlyMap<string, ConvGeometry> {
  return layers.get(graph) ?? new Map();
}

function registerLayer(graph: Graph, g: ConvGeometry): string {
  const own = layers.get(graph) ?? new Map<string, ConvGeometry>();
  layers.set(graph, own);
  const label = `conv${own.size}`;
  own.set(label, g);
  return label;
}

/**
 * 'gemm' (one Gather of patches + one GEMM; its backward is a GEMM + col2im GEMM for dX and one GEMM over the same
 * patches for dW) where ORT's Conv is slow: kernels > 1x1 with outputs of at most 4x4 pixels and >= 16 input
 * channels, i.e. per-image GEMMs 16 or fewer columns wide (bench/conv-grad.ts measures both, bench/README.md). A
 * device provider runs its own Conv kernel.
 */
export function chooseForwardMethod(g: ConvGeometry, target: KernelTarget = 'cpu'): ForwardMethod {
  if (target !== 'cpu') return 'conv';
  return g.kh * g.kw > 1 && g.ho * g.wo <= 16 && g.c >= 16 && fitsGemmForward(g) ? 'gemm' : 'conv';
}

/** The geometry of an existing Conv node, read back from its attributes. */
export function geometryOf(x: Value, w: Value, attrs: Readonly<Record<string, { value: unknown }>>): ConvGeometry {
  const ints = (k: string): [number, number] | undefined => attrs[k]?.value as [number, number] | undefined;
  const pads = ints('pads') as number[] | undefined;
  if (pads && (pads[0] !== pads[2] || pads[1] !== pads[3])) throw new Error('Conv gradient: asymmetric pads are not supported');
  return convGeometry(x.shape, w.shape, { stride: ints('strides'), dilation: ints('dilations'), padding: pads ? [pads[0]!, pads[1]!] : undefined });
}

export type InputGradMethod = 'auto' | 'conv-transpose' | 'flipped-conv' | 'gemm-col2im' | 'col2im-op';

/**
 * 'flipped-conv' (a forward Conv of dY with W transposed and flipped) runs at forward speed where it applies
 * (stride 1, padding <= dilation*(k-1)) and dX has >= 8 channels (8: 0.98-1.09x the forward against ConvTranspose's
 * 0.39-0.46x on make run's layer1; a 1x1 64->256 on 16x16 maps: 0.76-0.82x against 0.38-0.39x; 1- and 3-channel
 * stems keep ConvTranspose). Strided kernels on
 * small maps: 'gemm-col2im' (one GEMM, then col2im as a GEMM that adds H*W/O of the first one's work: taken where
 * that is <= 1/4). Strided kernels > 1x1 onto maps of >= 16x16: ConvTranspose, whose per-image GEMMs are wide
 * enough there (a 3x3 s2 onto 16x16: 0.58-0.59x the forward against 'col2im-op' 0.47-0.49x; onto 28x28 0.63 against
 * 0.49, whose Col2Im runs on one thread). Other strided layers, 1x1 shortcuts included: 'col2im-op' (one GEMM over
 * the batch + ONNX Col2Im, or for a 1x1 a second GEMM that spreads the rows; make run's strided dX 0.40-0.68x the
 * forward against ConvTranspose's 0.30-0.47x, whose per-image GEMMs slow down with a second thread). ConvTranspose also for thin stems, float64 graphs and batches whose
 * cols would pass 128 MB (bench/README.md has the numbers). A device provider gets ConvTranspose, one kernel of its
 * own (cuDNN's backward-data on CUDA), for every geometry: the forms above were timed on ORT's CPU kernels only.
 */
export function chooseInputGradMethod(g: ConvGeometry, target: KernelTarget = 'cpu'): Exclude<InputGradMethod, 'auto'> {
  if (target !== 'cpu') return 'conv-transpose';
  const unitStride = g.stride[0] === 1 && g.stride[1] === 1;
  const fits = g.dilation[0] * (g.kh - 1) >= g.pad[0] && g.dilation[1] * (g.kw - 1) >= g.pad[1];
  if (unitStride && fits && g.c >= 8) return 'flipped-conv';
  if (unitStride) return 'conv-transpose';
  if (g.kh * g.kw > 1 && 4 * g.h * g.w <= g.o && fitsCol2im(g) && patchesFit(g)) return 'gemm-col2im';
  if (g.kh * g.kw > 1 && g.ho * g.wo >= 256) return 'conv-transpose'; // its per-image GEMMs are wide enough here
  return patchesFit(g) ? 'col2im-op' : 'conv-transpose';
}

/** dX[N,C,H,W] from dY[N,O,Ho,Wo] and w[O,C,kh,kw]. */
export function convInputGrad(dy: Value, w: Value, g: ConvGeometry, method: InputGradMethod = 'auto'): Value {
  const m = method === 'auto' ? chooseInputGradMethod(g, dy.graph.target) : method;
  const flippedPad: [number, number] = [g.dilation[0] * (g.kh - 1) - g.pad[0], g.dilation[1] * (g.kw - 1) - g.pad[1]];
  const flippedFits = g.stride[0] === 1 && g.stride[1] === 1 && flippedPad[0] >= 0 && flippedPad[1] >= 0;
  if (m === 'flipped-conv' && flippedFits) return flippedConv(dy, w, g, flippedPad);
  if (m === 'gemm-col2im' && fitsCol2im(g)) return gemmCol2im(dy, w, g);
  if (m === 'col2im-op' && dy.dtype === 'float32' && patchesFit(g)) return col2imOp(dy, w, g);
  return convTranspose(dy, w, g);
}

/**
 * dX as ConvTranspose's two halves written out: cols[N, C*kh*kw, Ho*Wo] = W^T @ dY (one batched GEMM over every
 * image, which MLAS spreads over the threads) then ONNX Col2Im (opset 18), or for a 1x1 onto a map the stride
 * divides, a GEMM that interleaves (interleaveRows). ORT's CPU ConvTranspose runs a GEMM a few
 * columns wide per image and does not gain from a second thread. ORT has Col2Im for the CPU only (float), so the node
 * is ours and lowers per target: MatMul + Col2Im on the CPU provider (target.ts), else ConvTranspose
 * (cuDNN and WebGPU run that well; a CPU-only node there would copy across the bus).
 */
function col2imOp(dy: Value, w: Value, g: ConvGeometry): Value {
  return emit1('ConvInputGradCols', [dy, w], { ...convAttrs(g), output_padding: { kind: 'ints', value: outputPadding(g) } }, [g.n, g.c, g.h, g.w]);
}

defineOp('ConvInputGradCols', {
  lower: (node, b) => {
    const [dy, w] = node.inputs as [Value, Value];
    const out = node.outputs.map((v) => v.name);
    if (!hasKernel(b.target, 'Col2Im')) {
      b.op('ConvTranspose', [dy.name, w.name], node.attrs, out);
      return;
    }
    const [n, o, ho, wo] = dy.shape as [number, number, number, number];
    const [, c, kh, kw] = w.shape as [number, number, number, number];
    const [, , h, wd] = node.outputs[0]!.shape as [number, number, number, number];
    const [wT] = b.op('Transpose', b.op('Reshape', [w.name, b.ints([o, c * kh * kw])]), { perm: { kind: 'ints', value: [1, 0] } });
    const [cols] = b.op('MatMul', [wT!, b.op('Reshape', [dy.name, b.ints([n, o, ho * wo])])[0]!]);
    const { strides, pads, dilations } = node.attrs;
    const [sh, sw] = strides!.value as [number, number];
    if (kh * kw === 1 && (pads!.value as number[]).every((p) => p === 0) && h === sh * ho && wd === sw * wo) {
      b.op('Reshape', [interleaveRows(b, cols!, [n * c * ho, wo], [sh, sw], wd), b.ints([n, c, h, wd])], {}, out);
      return;
    }
    b.op('Col2Im', [cols!, b.ints([h, wd]), b.ints([kh, kw])], { strides: strides!, pads: pads!, dilations: dilations! }, out);
  },
});

/**
 * A strided 1x1's Col2Im, which only spreads each row of cols onto every s-th pixel of every s-th row, as one GEMM:
 * cols[rows, Wo] @ S[Wo, sh*W] with S[j, sw*j] = 1 writes each row's interleaved pixels and the sh-1 zero rows after
 * them, i.e. dX in NCHW order (exact: one non-zero product per output). ORT's Col2Im runs on one thread; MLAS spreads
 * the GEMM over all of them (make run's shortcut: 0.5-0.7 against 1.3 ms for Col2Im; its dX in the step 1.1-1.5
 * against 1.9-2.1 ms, alternating runs).
 */
function interleaveRows(b: Lowerer, cols: string, [rows, wo]: [number, number], [sh, sw]: [number, number], w: number): string {
  const scatter = new Float32Array(wo * sh * w);
  for (let j = 0; j < wo; j++) scatter[j * sh * w + sw * j] = 1;
  return b.op('MatMul', [b.op('Reshape', [cols, b.ints([rows, wo])])[0]!, b.floats(scatter, [wo, sh * w])])[0]!;
}

/** Stride 1 only: dX = Conv(dY, W^T flipped in space) with padding d(k-1) - p, i.e. a forward-speed Conv. */
function flippedConv(dy: Value, w: Value, g: ConvGeometry, pad: [number, number]): Value {
  // Flip both spatial axes = reverse the kh*kw taps: one small GEMM with a reversal matrix (ORT's Gather on the
  // last axes copies a few floats at a time and cost more than the GEMM).
  const k = g.kh * g.kw;
  const reverse = new Float32Array(k * k);
  for (let t = 0; t < k; t++) reverse[t * k + (k - 1 - t)] = 1;
  const rev = w.graph.constant(w.dtype === 'float64' ? Float64Array.from(reverse) : reverse, [k, k], w.dtype);
  const flipped = k === 1 ? transpose(w, [1, 0, 2, 3]) : reshape(transpose(matmul(reshape(w, [g.o, g.c, k]), rev), [1, 0, 2]), [g.c, g.o, g.kh, g.kw]);
  return emit1('Conv', [dy, flipped], {
    kernel_shape: { kind: 'ints', value: [g.kh, g.kw] },
    pads: { kind: 'ints', value: [pad[0], pad[1], pad[0], pad[1]] },
    dilations: { kind: 'ints', value: [...g.dilation] },
  }, [g.n, g.c, g.h, g.w]);
}

/** dX as a ConvTranspose of dY with the forward's geometry. */
function convTranspose(dy: Value, w: Value, g: ConvGeometry): Value {
  return emit1('ConvTranspose', [dy, w], { ...convAttrs(g), output_padding: { kind: 'ints', value: outputPadding(g) } }, [g.n, g.c, g.h, g.w]);
}

// ConvTranspose output = s*(Ho-1) + (k-1)*d + 1 - 2p + output_padding; output_padding restores rows the forward's
// floor division dropped.
function outputPadding(g: ConvGeometry): number[] {
  const full = (i: 0 | 1, out: number): number => g.stride[i] * (out - 1) + (i === 0 ? g.kh - 1 : g.kw - 1) * g.dilation[i] + 1 - 2 * g.pad[i];
  return [g.h - full(0, g.ho), g.w - full(1, g.wo)];
}

// y[N,O,Ho,Wo] = conv(x[N,C,H,W], w[O,C,kh,kw]):
//   dx[N,C,H,W]   = convTranspose(dy, w) = conv(dy, flip(w^T)) at stride 1   (convInputGrad)
//   dw[O,C,kh,kw] = sum over taps (i,j) and images of dy @ x[shifted by (i,j)]^T  (convWeightGrad)
defineOp('Conv', {
  grad: ({ node, dOut: [dy], needs }) => {
    const [x, w, b] = node.inputs;
    if (b) throw new Error('Conv gradient: a bias input is not supported (add a broadcast bias instead)');
    const g = geometryOf(x!, w!, node.attrs);
    const graph = x!.graph;
    const part = <T>(name: string, build: () => T): T => (graph.currentScope ? graph.withScope(`${graph.currentScope}.${name}`, build) : build());
    const dw = needs[1] ? part('dw', () => {
      const transposedBy = siblingTransposing(node, x!);
      return convWeightGrad(x!, dy!, g, undefined, transposedBy ? { transposedBy } : {});
    }) : null;
    return [needs[0] ? part('dx', () => convInputGrad(dy!, w!, g)) : null, dw];
  },
});

/** The geometry of another Conv reading x whose dW is built from x transposed channel-major (WeightGradContext). */
function siblingTransposing(node: Node, x: Value): ConvGeometry | undefined {
  const siblings = x.graph.nodes.filter((n) => n !== node && n.opType === 'Conv' && n.inputs[0] === x);
  return siblings.map((n) => geometryOf(x, n.inputs[1]!, n.attrs)).find((sg) => chooseWeightGradMethod(sg, {}, x.graph.target) === 'im2col-gather-cm');
}

defineOp('ConvTranspose', {});
