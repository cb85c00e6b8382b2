// Matrix products: batched MatMul (numpy broadcasting over leading dims) and Gemm for linear layers.

import { type Value, fmtShape } from '../ir.js';
import { RuleSet } from '../registry.js';
import { broadcast, emit1, range, sameDType } from './util.js';
import { sumToShape } from './elementwise.js';
import { reduceSum } from './reduce.js';
import { transpose } from './shape.js';

/** This file's op rules (rules/index.ts builds the op table from every file's). */
export const matmulRules = new RuleSet();

/** a[..., M, K] @ b[..., K, N] -> [..., M, N], leading dims broadcast. */
export function matmul(a: Value, b: Value): Value {
  sameDType('matmul', a, b);
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: operands need rank >= 2, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const [m, k1] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k1 !== k2) throw new Error(`matmul: inner dims differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  return emit1('MatMul', [a, b], {}, [...batch, m, n]);
}

/** x[N,I] * w[O,I]^T + b[O] -> [N,O] (one Gemm). */
export function linear(x: Value, w: Value, b?: Value): Value {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[1]) {
    throw new Error(`linear: expected x[N,I] and w[O,I], got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  }
  const o = w.shape[0]!;
  if (b && (b.rank !== 1 || b.shape[0] !== o)) throw new Error(`linear: bias must be [${o}], got ${fmtShape(b.shape)}`);
  return emit1('Gemm', b ? [x, w, b] : [x, w], { transB: { kind: 'int', value: 1 } }, [x.shape[0]!, o]);
}

/** Swaps the last two axes. */
export function transposeLast2(x: Value): Value {
  const perm = range(x.rank);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transpose(x, perm);
}

// y[...,M,N] = a[...,M,K] @ b[...,K,N]: da = dy @ b^T, db = a^T @ dy (summed over broadcast batch dims)
matmulRules.define('MatMul', {
  grad: ({ node: { inputs: [a, b] }, dOut: [dy], needs }) => [
    needs[0] ? sumToShape(matmul(dy!, transposeLast2(b!)), a!.shape) : null,
    needs[1] ? sumToShape(matmul(transposeLast2(a!), dy!), b!.shape) : null,
  ],
});

// y[N,O] = x[N,I] w^T + b  (transB=1; w[O,I])   or   x[N,I] w + b  (transB=0; w[I,O])
matmulRules.define('Gemm', {
  grad: ({ node, dOut: [dy], needs }) => {
    const [x, w, b] = node.inputs;
    if ((node.attrs['transA']?.value ?? 0) !== 0) throw new Error('Gemm gradient: transA=1 is not supported');
    const transB = (node.attrs['transB']?.value ?? 0) === 1;
    const dx = needs[0] ? emit1('Gemm', [dy!, w!], { transB: { kind: 'int', value: transB ? 0 : 1 } }, x!.shape) : null;
    const dw = !needs[1] ? null : transB
      ? emit1('Gemm', [dy!, x!], { transA: { kind: 'int', value: 1 } }, w!.shape)
      : emit1('Gemm', [x!, dy!], { transA: { kind: 'int', value: 1 } }, w!.shape);
    const db = b && needs[2] ? sumToShape(reduceSum(dy!, [0], false), b.shape) : null;
    return [dx, dw, db];
  },
});
