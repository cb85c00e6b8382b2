// IDX file reader (the MNIST family's format): big-endian header, magic 0x0000 <type> <ndims>, then one
// uint32 per dimension, then the data. Only unsigned-byte data (type 0x08) is needed for images/labels.
// Accepts gzipped files (as Debian ships them) and plain ones.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

/** Parse an IDX buffer (already decompressed). `source` names the file in errors. */
export function parseIdx(buf: Uint8Array, source: string): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${source}: not an IDX file (bad magic bytes)`);
  }
  if (buf[2] !== UBYTE) throw new Error(`${source}: IDX data type 0x${buf[2].toString(16)} unsupported (only ubyte)`);
  const ndims = buf[3];
  const headerBytes = 4 + 4 * ndims;
  if (ndims === 0 || buf.length < headerBytes) throw new Error(`${source}: truncated IDX header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: ndims }, (_v, d) => view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = buf.length - headerBytes;
  if (actual !== expected) {
    throw new Error(`${source}: IDX body has ${actual} bytes, header ${JSON.stringify(dims)} needs ${expected}`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Read and parse an IDX file; gzip is detected by its magic bytes, not the file name. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read IDX file ${path}`, { cause: err });
  }
  const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (gzipped) {
    try {
      raw = gunzipSync(raw);
    } catch (err) {
      throw new Error(`${path}: corrupt gzip data`, { cause: err });
    }
  }
  return parseIdx(raw, path);
}

/** An IDX file of unsigned bytes (type 0x08) with these dimensions: parseIdx's inverse, for writing test data. */
export function encodeIdx(dims: readonly number[], body: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, body]);
}
