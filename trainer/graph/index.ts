// trainer/graph: ONNX graph builder with static shapes, reverse-mode autodiff, serialization. See API.md.
export { Graph, type OutSpec } from './graph.js';
export { Value, type DType, type Shape, type Node, type Attr, type Attrs, sizeOf, sameShape } from './ir.js';
export { gradients, GRAD_SCOPE, type GradientSeeds } from './autodiff.js';
export { toOnnx, liveNodes, OPSET, IR_VERSION, type ToOnnxOptions } from './onnx.js';
export { type KernelTarget, KERNEL_TARGETS, hasKernel } from './target.js';
export * as op from './ops.js';
export { COLLECTIVES_DOMAIN, usesCollectives } from './rules/collectives.js';
export type { ForwardMethod } from './rules/conv.js';
