// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ semantics): the L2 norm over all gradients together;
// when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.

export function globalGradNorm(grads: Iterable<Float32Array>): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

export function clipGradNorm(grads: Iterable<Float32Array>, maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new Error(`clip: max norm must be > 0, got ${maxNorm}`);
  const list = [...grads];
  const norm = globalGradNorm(list);
  if (!Number.isFinite(norm)) throw new Error(`clip: gradient norm is ${norm}; the step has non-finite gradients`);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of list) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
