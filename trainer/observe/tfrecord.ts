// TFRecord framing, as TensorBoard event files use it:
//   uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
import { maskedCrc32c } from './crc32c.js';

export function encodeRecord(data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** Every record of a TFRecord file, checking both CRCs; throws naming the offset of a bad record. */
export function decodeRecords(file: Uint8Array, source = 'tfrecord'): Uint8Array[] {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (offset + 12 > buf.length) throw new Error(`${source}: truncated record header at byte ${offset}`);
    const length = Number(buf.readBigUInt64LE(offset));
    if (buf.readUInt32LE(offset + 8) !== maskedCrc32c(buf.subarray(offset, offset + 8))) {
      throw new Error(`${source}: bad length CRC at byte ${offset}`);
    }
    const end = offset + 12 + length + 4;
    if (end > buf.length) throw new Error(`${source}: truncated record at byte ${offset}`);
    const data = buf.subarray(offset + 12, offset + 12 + length);
    if (buf.readUInt32LE(offset + 12 + length) !== maskedCrc32c(data)) throw new Error(`${source}: bad data CRC at byte ${offset}`);
    records.push(data);
    offset = end;
  }
  return records;
}
