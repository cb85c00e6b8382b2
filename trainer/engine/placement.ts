// Which nodes of a graph a device provider has no kernel for. ORT, with its CPU fallback off (as the engine sets it
// for device providers), refuses such a session but does not say which node: this compiles each distinct node alone,
// as the graph lowers it for its target, and returns those that fail the same way.

import { Graph, liveNodes, type Node, type Value } from '../graph/index.js';

export interface OffDeviceNode {
  opType: string;
  /** The node's first output: names the node in our graph (its scope says which layer and pass built it). */
  output: string;
  scope?: string;
}

/** A graph a device provider cannot run whole: the nodes it has no kernel for, with the fix (one line for the CLI). */
export class NoDeviceKernelError extends Error {
  constructor(graph: string, provider: string, readonly nodes: readonly OffDeviceNode[], cause: unknown) {
    const list = nodes.map((n) => `${n.opType} (${n.scope ? `${n.scope}/` : ''}${n.output})`);
    const shown = list.length > 8 ? [...list.slice(0, 8), `${list.length - 8} more`] : list;
    const what = nodes.length > 0 ? `${nodes.length} node(s) with no ${provider} kernel: ${shown.join(', ')}` : 'nodes that each compile alone there (ORT placed them on the CPU in the whole graph)';
    super(`graph ${graph} cannot run on ${provider} without the CPU: ${what}. Fix: lower those ops for ${provider} (trainer/graph/target.ts), or run with --execution-provider cpu`, { cause });
    this.name = 'NoDeviceKernelError';
  }
}

/** ORT's message when a node would run on the CPU but the fallback is off. */
export const CPU_FALLBACK_REFUSED = /assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled/;

/**
 * The nodes of the program (the graph's `outputs`, default all, and what they need) the provider has no kernel for;
 * `compile` compiles a model with the engine's session configuration (and releases it).
 */
export async function nodesWithoutKernel(graph: Graph, compile: (model: Uint8Array) => Promise<void>, outputs?: readonly string[]): Promise<OffDeviceNode[]> {
  const constants = new Map(graph.constants.map((c) => [c.value, c.data]));
  const live = liveNodes(graph.outputs.filter((o) => outputs === undefined || outputs.includes(o.name)).map((o) => o.value));
  const verdicts = new Map<string, boolean>();
  const off: OffDeviceNode[] = [];
  for (const node of graph.nodes.filter((n) => live.has(n))) {
    const key = signature(node, constants);
    let runs = verdicts.get(key);
    if (runs === undefined) {
      runs = await compilesAlone(node, graph, constants, compile);
      verdicts.set(key, runs);
    }
    if (!runs) off.push({ opType: node.opType, output: node.outputs[0]!.name, ...(node.scope ? { scope: node.scope } : {}) });
  }
  return off;
}

/** Nodes with the same op, attributes and input types get the same kernel (constant inputs: the same values too). */
function signature(node: Node, constants: ReadonlyMap<Value, unknown>): string {
  const inputs = node.inputs.map((v) => `${v.dtype}[${v.shape.join(',')}]${constants.has(v) ? `=${v.name}` : ''}`);
  return `${node.opType} ${JSON.stringify(node.attrs)} ${inputs.join(' ')}`;
}

async function compilesAlone(node: Node, graph: Graph, constants: ReadonlyMap<Value, Graph['constants'][number]['data']>, compile: (model: Uint8Array) => Promise<void>): Promise<boolean> {
  const g = new Graph(`${graph.name}_node`, graph.target);
  const inputs = node.inputs.map((v, i) => {
    const data = constants.get(v);
    return data ? g.constant(data, v.shape, v.dtype) : g.input(`in${i}`, v.shape, v.dtype);
  });
  const outputs = g.addNode(node.opType, inputs, node.attrs, node.outputs.map((o) => ({ shape: o.shape, dtype: o.dtype })));
  outputs.forEach((o, i) => g.output(`out${i}`, o));
  try {
    await compile(g.toOnnx());
    return true;
  } catch (e) {
    if (CPU_FALLBACK_REFUSED.test((e as Error).message)) return false;
    throw e;
  }
}
