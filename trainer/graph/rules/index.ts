// The op table: every rule file's rules, listed here (not registered by importing a module for its side effects).
import { opTable } from '../registry.js';
import { batchNormRules } from './batchnorm.js';
import { collectiveRules } from './collectives.js';
import { convGatherRules } from './conv-gather.js';
import { convRules } from './conv.js';
import { elementwiseRules } from './elementwise.js';
import { matmulRules } from './matmul.js';
import { poolRules } from './pool.js';
import { reduceRules } from './reduce.js';
import { shapeRules } from './shape.js';
import { softmaxRules } from './softmax.js';

export const OP_TABLE = opTable([
  elementwiseRules, reduceRules, shapeRules, matmulRules, softmaxRules, convRules, convGatherRules, poolRules, batchNormRules,
  collectiveRules,
]);
