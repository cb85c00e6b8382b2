// Embed: run an exported encoder (standalone ONNX, input contract in its metadata) on images from a data set split
// or an IDX file; write the embeddings as .npy (float32 [N, D]) or JSON ({ shape, labels?, embeddings }).
import { writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { centreCropBox, normalizeInto, openDataset, readIdxFile, resizeCropInto, type Split } from '../../data/index.js';
import { readModelMetadata } from './export.js';

export interface EmbedSource {
  /** A --dataset name (with optional dir) and split, or an IDX image file. */
  dataset?: { name: string; dir?: string; split: Split };
  idx?: string;
  limit?: number;
}

interface ImageSource {
  length: number;
  channels: number;
  height: number;
  width: number;
  image(i: number): Promise<Uint8Array>;
  labels?: Int32Array;
}

async function openSource(src: EmbedSource): Promise<ImageSource> {
  if (src.idx !== undefined) {
    const arr = await readIdxFile(src.idx);
    const [n, h, w, c = 1] = arr.dims;
    if (arr.dims.length !== 3 && arr.dims.length !== 4) throw new Error(`${src.idx}: expected [N, H, W] or [N, H, W, C] images, got [${arr.dims.join(', ')}]`);
    const size = h * w * c;
    const data = arr.data as Uint8Array;
    return { length: n, channels: c, height: h, width: w, image: async (i) => data.subarray(i * size, (i + 1) * size) };
  }
  if (src.dataset === undefined) throw new Error('embed: give --dataset (and --split) or --idx');
  const ds = await openDataset({ name: src.dataset.name, dir: src.dataset.dir }, src.dataset.split);
  const labels = Int32Array.from({ length: ds.length }, (_v, i) => ds.label(i));
  return {
    length: ds.length,
    channels: ds.channels,
    height: ds.height,
    width: ds.width,
    labels,
    image: async (i) => (await ds.get(i)).image,
  };
}

export interface Embeddings {
  data: Float32Array;
  count: number;
  dim: number;
  labels?: Int32Array;
}

/** Runs the exported model at `modelPath` over the source, `batchSize` images per run. */
export async function embedImages(modelPath: string, src: EmbedSource, o: { batchSize?: number; threads?: number } = {}): Promise<Embeddings> {
  const meta = await readModelMetadata(modelPath);
  const c = Number(meta['simclr.input_channels']);
  const h = Number(meta['simclr.input_height']);
  const w = Number(meta['simclr.input_width']);
  const dim = Number(meta['simclr.representation_size']);
  if (!(c > 0 && h > 0 && w > 0 && dim > 0)) throw new Error(`${modelPath}: no simclr input contract in its metadata (not written by simclr export?)`);
  const norm = { mean: JSON.parse(meta['simclr.normalization_mean']) as number[], std: JSON.parse(meta['simclr.normalization_std']) as number[] };
  const images = await openSource(src);
  if (images.channels !== c) throw new Error(`the model takes ${c}-channel images, the source has ${images.channels}`);
  const n = Math.min(src.limit ?? images.length, images.length);
  const session = await ort.InferenceSession.create(modelPath, {
    ...(o.threads ? { intraOpNumThreads: o.threads, interOpNumThreads: 1 } : {}),
    logSeverityLevel: 3,
  });
  const out = new Float32Array(n * dim);
  const bs = o.batchSize ?? 256;
  const plane = h * w;
  try {
    for (let first = 0; first < n; first += bs) {
      const b = Math.min(bs, n - first);
      const x = new Float32Array(b * c * plane);
      for (let r = 0; r < b; r++) {
        const img = await images.image(first + r);
        const box = centreCropBox(images.height, images.width, h, w); // as the trainer's test images
        resizeCropInto(img, images.width, c, box, false, h, w, x, r * c * plane);
        normalizeInto(x, r * c * plane, c, plane, norm);
      }
      const res = await session.run({ x: new ort.Tensor('float32', x, [b, c, h, w]) });
      out.set(res.h.data as Float32Array, first * dim);
    }
  } finally {
    await session.release();
  }
  return { data: out, count: n, dim, labels: images.labels?.subarray(0, n) };
}

/** numpy .npy v1.0 of a float32 [rows, cols] array. */
export function encodeNpy(data: Float32Array, rows: number, cols: number): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export async function writeEmbeddings(path: string, e: Embeddings): Promise<void> {
  if (path.endsWith('.npy')) {
    await writeFile(path, encodeNpy(e.data, e.count, e.dim));
  } else if (path.endsWith('.json')) {
    const rows = Array.from({ length: e.count }, (_v, i) => Array.from(e.data.subarray(i * e.dim, (i + 1) * e.dim)));
    await writeFile(path, JSON.stringify({ shape: [e.count, e.dim], labels: e.labels ? Array.from(e.labels) : undefined, embeddings: rows }));
  } else {
    throw new Error(`--out=${path}: use a .npy or .json file name`);
  }
}
