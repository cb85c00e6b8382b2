// Collectives inside a graph. AllReduceSum sums a float32 tensor over the replicas of the process group the engine
// compiles the graph with; the native backend runs it as an operator of its own domain while the session runs
// (native/ort/src/collectives.rs), so a sum over the global batch is available in the middle of a forward or backward
// pass (synchronized BatchNorm). Every replica must run the same sums in the same order, or a sum gets paired with
// another of the same size (the main path's and the shortcut's BatchNorm of a block) on the other replica: ORT may run
// independent nodes in any order, so the ONNX writer chains them (onnx.ts: each takes the one written before it as a
// second input the operator ignores).
import type { Node, Value } from '../ir.js';
import { RuleSet } from '../registry.js';
import { emit1 } from './util.js';

/** The ONNX domain of our collective operators (the native backend registers it for graphs that use it). */
export const COLLECTIVES_DOMAIN = 'simclr.collectives';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const collectiveRules = new RuleSet();

/** x summed element-wise over every replica (each must pass the same shape). */
export function allReduceSum(x: Value): Value {
  if (x.dtype !== 'float32') throw new Error(`allReduceSum: ${x.name} is ${x.dtype}; collectives sum float32`);
  return emit1('AllReduceSum', [x], {}, x.shape);
}

/**
 * Whether a graph sums across replicas (its engine must then be given the process group): AllReduceSum nodes, and
 * ops whose lowering writes them, which say so with a `replicas` attribute above 1 (BatchNormTrain).
 */
export function usesCollectives(nodes: Iterable<Node>): boolean {
  for (const n of nodes) {
    if (n.opType === 'AllReduceSum' || ((n.attrs['replicas']?.value as number | undefined) ?? 1) > 1) return true;
  }
  return false;
}

collectiveRules.define('AllReduceSum', {
  lower: (node, b) => {
    b.op('AllReduceSum', [node.inputs[0]!.name], {}, [node.outputs[0]!.name], COLLECTIVES_DOMAIN);
  },
  // Replica r's input reaches every replica's output, so its gradient is the sum of every replica's output gradient.
  grad: ({ dOut: [dy] }) => [dy ? allReduceSum(dy) : null],
});
