// Worker thread of the loader's pool: opens its own copy of the data set from its origin, then for each job
// decodes its rows' samples (sharp, concurrently) and writes both views into the batch's shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { openDataset } from './index.js';
import type { PoolJob, PoolReply, WorkerInit } from './pool-protocol.js';
import { writeViews } from './views.js';

const init = workerData as WorkerInit;
// One libvips thread per operation: the pool's workers are the parallelism, and more threads would only
// contend for the same cores. No libvips operation cache: every decode is of a different file.
// (Both settings are process-wide; in a trainer, sharp serves the data pipeline only.)
sharp.concurrency(1);
sharp.cache(false);
const port = parentPort;
if (port === null) throw new Error('augment-worker must run as a worker thread');

let dataset: Promise<Dataset> | undefined;
function openOnce(): Promise<Dataset> {
  dataset ??= openDataset({ ...init.origin, onWarning: (message) => port?.postMessage({ warning: message } satisfies PoolReply) }, init.origin.split);
  return dataset;
}

async function run(job: PoolJob): Promise<Int32Array> {
  const ds = await openOnce();
  const view1 = new Float32Array(job.view1);
  const view2 = new Float32Array(job.view2);
  const imageSize = ds.channels * init.augment.outHeight * init.augment.outWidth;
  const labels = new Int32Array(job.rows.length);
  const samples = await Promise.all(Array.from(job.indices, (index) => ds.get(index)));
  samples.forEach((sample, k) => {
    const row = job.rows[k];
    writeViews(init.seed, job.epoch, job.firstPosition + row, sample, ds.channels, init.augment, view1, view2, row * imageSize);
    labels[k] = sample.label;
  });
  return labels;
}

port.on('message', (job: PoolJob) => {
  run(job).then(
    (labels) => port.postMessage({ id: job.id, labels } satisfies PoolReply),
    (err: unknown) =>
      port.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err), dataError: err instanceof DataError } satisfies PoolReply),
  );
});
