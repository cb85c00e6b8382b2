// The public op builders (see API.md). Each lives beside its gradient rule in rules/*.ts.

export { add, sub, mul, div, neg, exp, log, sqrt, pow, relu, identity, where, equal, less, greater, cast, stopGradient, sumToShape } from './rules/elementwise.js';
export { reduceSum, reduceMean, reduceMax, topK, globalAvgPool, expand } from './rules/reduce.js';
export { reshape, flatten, transpose, concat, slice, pad } from './rules/shape.js';
export { matmul, linear, transposeLast2 } from './rules/matmul.js';
export { softmax, logSoftmax } from './rules/softmax.js';
export { conv2d, type Conv2dOptions, type ForwardMethod, type Pair } from './rules/conv.js';
export { maxPool2d, type MaxPoolOptions } from './rules/pool.js';
export { allReduceSum } from './rules/collectives.js';
export { batchNormTrain, batchNormEval, type BatchNormTrainResult } from './rules/batchnorm.js';
