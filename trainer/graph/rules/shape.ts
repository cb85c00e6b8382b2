// Ops that move data without arithmetic: reshape, transpose, concat, slice, pad. Their gradients move it back.

import { type Shape, type Value, fmtShape, normAxis, sizeOf } from '../ir.js';
import { RuleSet } from '../registry.js';
import { constInts, emit1, range } from './util.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const shapeRules = new RuleSet();

/** Reshape to a concrete shape; one -1 is inferred. */
export function reshape(x: Value, shape: Shape): Value {
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  if (inferred > 1) throw new Error(`reshape: at most one -1 in ${fmtShape(shape)}`);
  const out = shape.map((d) => (d === -1 ? x.size / sizeOf(known) : d));
  if (sizeOf(out) !== x.size || out.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  return emit1('Reshape', [x, x.graph.ints(out)], {}, out);
}

/** [N, ...] -> [N, rest] */
export function flatten(x: Value): Value {
  return reshape(x, [x.shape[0]!, x.size / x.shape[0]!]);
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`transpose: perm [${perm.join(',')}] is not a permutation of rank ${x.rank}`);
  }
  return emit1('Transpose', [x], { perm: { kind: 'ints', value: perm } }, perm.map((p) => x.shape[p]!));
}

export function concat(xs: readonly Value[], axis: number): Value {
  const first = xs[0];
  if (!first) throw new Error('concat: no inputs');
  const a = normAxis(axis, first.rank, 'concat');
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(`concat: ${fmtShape(x.shape)} does not match ${fmtShape(first.shape)} off axis ${a}`);
    }
  }
  const shape = first.shape.map((d, i) => (i === a ? xs.reduce((s, x) => s + x.shape[a]!, 0) : d));
  return emit1('Concat', xs, { axis: { kind: 'int', value: a } }, shape);
}

/** ONNX Slice with numpy-style clamping; steps must be positive. */
export function slice(x: Value, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Value {
  const ax = (axes ?? range(starts.length)).map((a) => normAxis(a, x.rank, 'slice'));
  const st = steps ?? ax.map(() => 1);
  if (st.some((s) => s <= 0)) throw new Error('slice: only positive steps are supported');
  const shape = [...x.shape];
  const s0: number[] = [];
  const e0: number[] = [];
  ax.forEach((a, i) => {
    const dim = x.shape[a]!;
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    s0.push(clamp(starts[i]!));
    e0.push(Math.max(clamp(ends[i]!), s0[i]!));
    shape[a] = Math.ceil((e0[i]! - s0[i]!) / st[i]!);
  });
  const g = x.graph;
  return emit1('Slice', [x, g.ints(s0), g.ints(e0), g.ints(ax), g.ints(st)], {}, shape);
}

/** Constant zero padding: pads = [begin_0, ..., begin_r, end_0, ..., end_r] as in ONNX. */
/** Constant padding with `value` (default 0) in ONNX's pads order. */
export function pad(x: Value, pads: readonly number[], value = 0): Value {
  if (pads.length !== 2 * x.rank) throw new Error(`pad: need ${2 * x.rank} pads, got ${pads.length}`);
  if (pads.every((p) => p === 0)) return x;
  const shape = x.shape.map((d, i) => d + pads[i]! + pads[i + x.rank]!);
  const inputs = value === 0 ? [x, x.graph.ints(pads)] : [x, x.graph.ints(pads), x.graph.scalar(value, x.dtype)];
  return emit1('Pad', inputs, { mode: { kind: 'string', value: 'constant' } }, shape);
}

// --- gradient rules ---

// y = reshape(x): dx = reshape(dy, x.shape)
shapeRules.define('Reshape', { grad: ({ node: { inputs: [x] }, dOut: [dy] }) => [reshape(dy!, x!.shape), null] });

// y = transpose(x, perm): dx = transpose(dy, inverse(perm))
shapeRules.define('Transpose', {
  grad: ({ node, dOut: [dy] }) => {
    const perm = node.attrs['perm']!.value as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(dy!, inv)];
  },
});

// y = concat(x_k, axis): dx_k = dy[offset_k : offset_k + len_k] along axis
shapeRules.define('Concat', {
  grad: ({ node, dOut: [dy], needs }) => {
    const axis = node.attrs['axis']!.value as number;
    let offset = 0;
    return node.inputs.map((x, k) => {
      const len = x.shape[axis]!;
      const d = needs[k] ? slice(dy!, [offset], [offset + len], [axis]) : null;
      offset += len;
      return d;
    });
  },
});

// y = x[starts:ends:steps]: dx = dy written back in place, zeros elsewhere. Unit steps: a Pad. Other steps: a
// ScatterElements of dy into zeros at the (statically known) flat positions.
shapeRules.define('Slice', {
  grad: ({ node, dOut: [dy] }) => {
    const [x, s, , a, st] = node.inputs;
    const starts = constInts(s!);
    const axes = constInts(a!);
    const steps = constInts(st!);
    if (steps.every((k) => k === 1)) {
      const pads = new Array<number>(2 * x!.rank).fill(0);
      axes.forEach((ax, i) => {
        pads[ax] = starts[i]!;
        pads[ax + x!.rank] = x!.shape[ax]! - starts[i]! - dy!.shape[ax]!;
      });
      return [pad(dy!, pads), null, null, null, null];
    }
    return [scatterStrided(dy!, x!.shape, axes, starts, steps), null, null, null, null];
  },
});

shapeRules.define('Pad', {
  grad: ({ node, dOut: [dy] }) => {
    const x = node.inputs[0]!;
    const pads = constInts(node.inputs[1]!);
    return [slice(dy!, pads.slice(0, x.rank), x.shape.map((d, i) => pads[i]! + d), range(x.rank)), null];
  },
});

function scatterStrided(dy: Value, shape: Shape, axes: number[], starts: number[], steps: number[]): Value {
  const g = dy.graph;
  const strides = shape.map((_, i) => sizeOf(shape.slice(i + 1)));
  const flat = new BigInt64Array(dy.size);
  const idx = new Array<number>(dy.rank).fill(0);
  for (let k = 0; k < dy.size; k++) {
    let pos = 0;
    for (let d = 0; d < dy.rank; d++) {
      const j = axes.indexOf(d);
      pos += (j < 0 ? idx[d]! : starts[j]! + idx[d]! * steps[j]!) * strides[d]!;
    }
    flat[k] = BigInt(pos);
    for (let d = dy.rank - 1; d >= 0; d--) {
      if (++idx[d]! < dy.shape[d]!) break;
      idx[d] = 0;
    }
  }
  const n = sizeOf(shape);
  const zeros = g.constant(dy.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), [n], dy.dtype);
  const indices = g.constant(flat, [dy.size], 'int64');
  const flatDy = reshape(dy, [dy.size]);
  const scattered = emit1('ScatterElements', [zeros, indices, flatDy], { axis: { kind: 'int', value: 0 } }, [sizeOf(shape)]);
  return reshape(scattered, shape);
}

shapeRules.define('ScatterElements', {
  // Only used by backward passes here; second-order gradients are not needed.
});
