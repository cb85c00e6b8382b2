// The execution provider a graph is built and lowered for. Gradient forms and the lowering of our own ops differ per
// target where the providers' kernels do: the CPU forms were chosen by timing ORT's CPU kernels (bench/conv-grad.ts);
// a device provider gets the forms it has kernels for, each one kernel (Conv, ConvTranspose), and never an op it
// would hand back to the CPU.

export type KernelTarget = 'cpu' | 'webgpu' | 'cuda';

export const KERNEL_TARGETS: readonly KernelTarget[] = ['cpu', 'webgpu', 'cuda'];

/**
 * ONNX ops (opset 17/18) ORT 1.30 has no kernel for on a target, which our graphs must write some other way (a
 * one-node graph fails to compile there with the CPU fallback off; trainer/engine/placement.ts finds such nodes).
 * Col2Im: a CPU kernel only. WebGPU: no LogSoftmax.
 */
const MISSING: Record<KernelTarget, ReadonlySet<string>> = {
  cpu: new Set(),
  webgpu: new Set(['Col2Im', 'LogSoftmax']),
  cuda: new Set(['Col2Im']),
};

export function hasKernel(target: KernelTarget, opType: string): boolean {
  return !MISSING[target].has(opType);
}

/**
 * Whether int64 tensors can flow between the target's kernels. WebGPU's Reshape, Cast, Flatten, Squeeze, Transpose,
 * Concat and Identity take none, and its MaxPool takes a node with an Indices output but fails when it runs ("The
 * Indices output is not supported yet"; test/webgpu/placement.test.ts), so MaxPool's backward cannot use argmaxes.
 */
export function movesInt64(target: KernelTarget): boolean {
  return target !== 'webgpu';
}
