// Reverse-mode autodiff: walks the recorded nodes backwards from the seeds, asks each op's rule (registry.ts) for its
// input gradients, and appends those backward nodes to the same graph. A value used by several nodes gets the sum
// of their contributions. Only nodes between the seeds and `wrt` are differentiated.

import { type Value, fmtShape, isFloat, sameShape, sizeOf } from './ir.js';
import { add } from './rules/elementwise.js';
import { OP_TABLE } from './rules/index.js';

/** Externally supplied dL/dz per value z (the gradient-cache step feeds them as graph inputs). */
export interface GradientSeeds {
  seeds: readonly (readonly [Value, Value])[];
}

/** The scope of every node the backward pass adds (ONNX node names 'grad/...'; bench/train-step.ts splits on it). */
export const GRAD_SCOPE = 'grad';

/**
 * d(target)/d(wrt) for each wrt. A Value target is seeded with ones (a scalar loss gets 1); a value in `wrt` that the
 * target does not depend on gets a zero gradient.
 */
export function gradients(target: Value | GradientSeeds, wrt: readonly Value[]): Value[] {
  const graph = (target instanceof Object && 'seeds' in target ? target.seeds[0]?.[0] : target)?.graph;
  if (!graph) throw new Error('gradients: no seeds');
  return graph.withScope(GRAD_SCOPE, () => backward(target, wrt));
}

function backward(target: Value | GradientSeeds, wrt: readonly Value[]): Value[] {
  const seeds = target instanceof Object && 'seeds' in target ? target.seeds : [[target, ones(target)] as const];
  if (seeds.length === 0) throw new Error('gradients: no seeds');
  const graph = seeds[0]![0].graph;
  const grads = new Map<Value, Value>();
  for (const [z, dz] of seeds) {
    if (z.graph !== graph || dz.graph !== graph) throw new Error('gradients: seeds span several graphs');
    if (!sameShape(z.shape, dz.shape)) throw new Error(`gradients: seed for ${z.name} has shape ${fmtShape(dz.shape)}, expected ${fmtShape(z.shape)}`);
    accumulate(grads, z, dz);
  }
  for (const v of wrt) if (v.graph !== graph) throw new Error(`gradients: ${v.name} belongs to another graph`);

  const dependsOnWrt = forwardReach(graph.nodes, wrt);
  const forward = [...graph.nodes]; // snapshot: backward nodes are appended while we walk
  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k]!;
    const dOut = node.outputs.map((v) => grads.get(v) ?? null);
    if (dOut.every((d) => d === null)) continue;
    const needs = node.inputs.map((v) => dependsOnWrt.has(v) && isFloat(v.dtype));
    if (!needs.some(Boolean)) continue;
    const def = OP_TABLE.get(node.opType);
    if (def?.noGrad) continue;
    if (!def?.grad) throw new Error(`gradients: no gradient rule for ${node.opType} (producing ${node.outputs[0]?.name})`);
    const rule = (): readonly (Value | null | undefined)[] => def.grad!({ node, dOut, needs });
    // A forward node built in a scope (a Conv layer's 'conv3') gets its backward nodes in 'grad/conv3', so ORT's
    // profiler times each layer's gradient apart (bench/train-step.ts --per-conv).
    const dIn = node.scope ? graph.withScope(`${GRAD_SCOPE}/${node.scope}`, rule) : rule();
    node.inputs.forEach((x, i) => {
      const d = dIn[i];
      if (!needs[i] || !d) return;
      if (!sameShape(d.shape, x.shape)) {
        throw new Error(`gradients: ${node.opType} rule gave ${fmtShape(d.shape)} for input ${x.name} of shape ${fmtShape(x.shape)}`);
      }
      accumulate(grads, x, d);
    });
  }
  return wrt.map((v) => grads.get(v) ?? zeros(v));
}

function accumulate(grads: Map<Value, Value>, v: Value, d: Value): void {
  const prev = grads.get(v);
  grads.set(v, prev ? add(prev, d) : d);
}

/** Values computed (transitively) from any of `wrt`, including `wrt` themselves. */
function forwardReach(nodes: readonly { inputs: readonly Value[]; outputs: readonly Value[] }[], wrt: readonly Value[]): Set<Value> {
  const reach = new Set<Value>(wrt);
  for (const n of nodes) if (n.inputs.some((v) => reach.has(v))) for (const o of n.outputs) reach.add(o);
  return reach;
}

function ones(v: Value): Value {
  if (!isFloat(v.dtype)) throw new Error(`gradients: target ${v.name} is ${v.dtype}, not a float`);
  if (v.rank === 0) return v.graph.scalar(1, v.dtype);
  const n = sizeOf(v.shape);
  return v.graph.constant(v.dtype === 'float64' ? new Float64Array(n).fill(1) : new Float32Array(n).fill(1), v.shape, v.dtype);
}

function zeros(v: Value): Value {
  const n = sizeOf(v.shape);
  return v.graph.constant(v.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), v.shape, v.dtype);
}
