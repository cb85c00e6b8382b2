// The safetensors layout, written by hand (it is tiny): 8-byte little-endian header length N, N bytes of
// JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}},
// then the raw little-endian tensor bytes, offsets relative to the end of the header. As the reference
// implementation does, the header is space-padded so the data starts 8-byte aligned.
import { endianness } from 'node:os';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export type TensorData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Elements in row-major order; F16/BF16 as their raw uint16 bits. */
  readonly data: TensorData;
}

export type TensorMap = Readonly<Record<string, Tensor>>;

const METADATA_KEY = '__metadata__';
/** Refuse absurd headers before allocating (the reference implementation caps at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

if (endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');

const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Header bytes (length prefix + padded JSON) and the tensors' bytes in file order, without copying them. */
export function encodeSafetensors(tensors: TensorMap, metadata: Readonly<Record<string, string>> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    if (!(t.dtype in DTYPE_BYTES)) throw new Error(`tensor ${name}: unknown dtype ${String(t.dtype)}`);
    const expected = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new Error(`tensor ${name}: ${t.data.byteLength} bytes of data for ${t.dtype}${JSON.stringify(t.shape)} (needs ${expected})`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    chunks.push(bytesOf(t));
    offset += expected;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.length));
  return [prefix, jsonBytes, ...chunks];
}

/** A fresh, aligned typed array of the right kind holding a copy of `bytes`. */
function typedCopy(dtype: DType, bytes: Uint8Array): TensorData {
  const buf = new Uint8Array(bytes).buffer; // a copy (Buffer.slice would share the pool)
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf);
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'I16':
      return new Int16Array(buf);
    case 'I8':
      return new Int8Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

interface HeaderEntry {
  dtype: DType;
  shape: number[];
  data_offsets: [number, number];
}

function checkEntry(name: string, e: HeaderEntry, source: string): void {
  const ok =
    typeof e === 'object' &&
    e !== null &&
    e.dtype in DTYPE_BYTES &&
    Array.isArray(e.shape) &&
    e.shape.every((d) => Number.isInteger(d) && d >= 0) &&
    Array.isArray(e.data_offsets) &&
    e.data_offsets.length === 2;
  if (!ok) throw new Error(`${source}: malformed header entry for tensor ${name}`);
  const [begin, end] = e.data_offsets;
  if (end - begin !== elementCount(e.shape) * DTYPE_BYTES[e.dtype]) {
    throw new Error(`${source}: tensor ${name} has ${end - begin} bytes for ${e.dtype}${JSON.stringify(e.shape)}`);
  }
}

/**
 * Parse a whole safetensors file. Validates what the reference implementation validates: header length
 * within the file, offsets contiguous from 0 with no gaps or overlaps, and the data exactly filling the file.
 */
export function decodeSafetensors(file: Uint8Array, source = 'safetensors'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (file.length < 8) throw new Error(`${source}: ${file.length} bytes, too short for a safetensors header`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > file.length) {
    throw new Error(`${source}: header length ${headerLength} exceeds the file (${file.length} bytes): truncated or not safetensors`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(file.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${source}: header is not valid JSON`, { cause: err });
  }
  const data = file.subarray(8 + headerLength);
  const metadata = (header[METADATA_KEY] ?? {}) as Record<string, string>;
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, e]) => [name, e as HeaderEntry] as const);
  entries.forEach(([name, e]) => checkEntry(name, e, source));
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let expectedOffset = 0;
  for (const [name, e] of entries) {
    const [begin, end] = e.data_offsets;
    if (begin !== expectedOffset) throw new Error(`${source}: tensor ${name} starts at ${begin}, expected ${expectedOffset} (gap or overlap)`);
    expectedOffset = end;
  }
  if (expectedOffset !== data.length) {
    throw new Error(`${source}: header describes ${expectedOffset} data bytes, file has ${data.length}: truncated or padded`);
  }
  const tensors: Record<string, Tensor> = {};
  for (const [name, e] of entries) {
    const [begin, end] = e.data_offsets;
    tensors[name] = { dtype: e.dtype, shape: e.shape, data: typedCopy(e.dtype, data.subarray(begin, end)) };
  }
  return { tensors, metadata };
}

/** Convenience: an F32 tensor. */
export function f32(shape: readonly number[], data: Float32Array | readonly number[]): Tensor {
  return { dtype: 'F32', shape, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}
