// Collectives inside a graph. AllReduceSum sums a float32 tensor over the replicas of the process group the engine
// compiles the graph with; the native backend runs it as an operator of its own domain while the session runs
// (native/ort/src/collectives.rs), so a sum over the global batch is available in the middle of a forward or backward
// pass (synchronized BatchNorm). Every replica must run the same graph: the sums happen in graph order on all of them.
import type { Value } from '../ir.js';
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

/** Whether a graph sums across replicas (its engine must then be given the process group). */
export function usesCollectives(nodes: Iterable<{ opType: string }>): boolean {
  for (const n of nodes) if (n.opType === 'AllReduceSum') return true;
  return false;
}

collectiveRules.define('AllReduceSum', {
  lower: (node, b) => {
    b.op('AllReduceSum', [node.inputs[0]!.name], {}, [node.outputs[0]!.name], COLLECTIVES_DOMAIN);
  },
  // Replica r's input reaches every replica's output, so its gradient is the sum of every replica's output gradient.
  grad: ({ dOut: [dy] }) => [dy ? allReduceSum(dy) : null],
});
