// Messages between the loader's pool (main thread) and its worker threads. Batches travel as
// SharedArrayBuffers: workers write their rows in place, nothing is copied back through messages.
import type { AugmentParams } from './augment.js';
import type { DatasetOrigin } from './dataset.js';

export interface WorkerInit {
  origin: DatasetOrigin;
  seed: number;
  augment: AugmentParams;
}

export interface PoolJob {
  id: number;
  epoch: number;
  /** Position in the epoch's permutation of batch row 0 (the RNG key of row r is firstPosition + r). */
  firstPosition: number;
  /** Batch rows this worker fills, and the data set index of each. */
  rows: Int32Array;
  indices: Int32Array;
  view1: SharedArrayBuffer;
  view2: SharedArrayBuffer;
}

/** A job's result (labels of its rows, or the error), or a warning from the worker's data set. */
export interface PoolReply {
  id?: number;
  labels?: Int32Array;
  error?: string;
  /** The error was a DataError (the data is wrong, not the worker): the pool rethrows it as one. */
  dataError?: boolean;
  warning?: string;
}
