// The first N images of the real Fashion-MNIST splits, written as IDX files (the layout --data-dir expects), so an
// end-to-end run passes several epoch boundaries in seconds on 2 CPU cores. The data is real; only the count shrinks.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The first `count` items of one IDX file: the header's first dimension is rewritten, the data cut. */
export function truncateIdx(idx: Uint8Array, count: number): Buffer {
  const buf = Buffer.from(idx.buffer, idx.byteOffset, idx.byteLength);
  const dims = buf[3]!;
  const header = 4 + 4 * dims;
  const total = buf.readUInt32BE(4);
  if (count > total) throw new Error(`truncateIdx: asked for ${count} items of ${total}`);
  let itemSize = 1;
  for (let d = 1; d < dims; d++) itemSize *= buf.readUInt32BE(4 + 4 * d);
  const out = Buffer.from(buf.subarray(0, header + count * itemSize));
  out.writeUInt32BE(count, 4);
  return out;
}

/** Writes train/t10k images and labels (uncompressed IDX) with `train` and `test` items into `dir`. */
export function writeFashionMnistSubset(dir: string, counts: { train: number; test: number }): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count] of [['train', counts.train], ['t10k', counts.test]] as const) {
    for (const kind of ['images-idx3-ubyte', 'labels-idx1-ubyte']) {
      const src = gunzipSync(readFileSync(join(FASHION_MNIST_DIR, `${prefix}-${kind}.gz`)));
      writeFileSync(join(dir, `${prefix}-${kind}`), truncateIdx(src, count));
    }
  }
}
