// Running-statistics update for BatchNorm, PyTorch semantics: the running variance tracks the UNBIASED batch
// variance (n / (n - 1) times the biased one the forward pass normalises with), momentum 0.1 by default:
//   running = (1 - momentum) * running + momentum * batch

export interface RunningStats {
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

/**
 * @param batch   the batch mean and BIASED variance a train-mode forward returned for one BN layer
 * @param count   elements per channel that went into them (N for [N, C], N * H * W for [N, C, H, W])
 */
export function updateRunningStats(running: RunningStats, batch: RunningStats, count: number, momentum = 0.1): void {
  const c = running.mean.length;
  if (running.variance.length !== c || batch.mean.length !== c || batch.variance.length !== c) {
    throw new Error(`updateRunningStats: channel counts differ (${c}, ${batch.mean.length})`);
  }
  if (!Number.isInteger(count) || count < 1) throw new Error(`updateRunningStats: bad element count ${count}`);
  const unbias = count > 1 ? count / (count - 1) : 1;
  for (let i = 0; i < c; i++) {
    running.mean[i] = (1 - momentum) * running.mean[i] + momentum * batch.mean[i];
    running.variance[i] = (1 - momentum) * running.variance[i] + momentum * batch.variance[i] * unbias;
  }
}
