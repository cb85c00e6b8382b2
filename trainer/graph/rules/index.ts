// Importing this module fills the op table (registry.ts) with every rule.
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './matmul.js';
import './softmax.js';
import './conv.js';
import './pool.js';
import './batchnorm.js';
