// Crash-safe file replacement: write a temp file in the same folder, fsync it, rename it over the
// target (atomic on POSIX), then fsync the folder so the rename itself survives a power loss.
// A reader therefore sees the old file or the new one, never a partial one.
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temp files carry this marker so cleanup can recognise leftovers of a crashed writer. */
export const TEMP_MARKER = '.tmp-';

export interface AtomicWriteResult {
  bytes: number;
  sha256: string;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write `chunks` to `path` atomically; returns the size and sha256 of what was written. */
export async function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): Promise<AtomicWriteResult> {
  const dir = dirname(path);
  const temp = join(dir, `${basename(path)}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const handle = await open(temp, 'wx');
    try {
      for (const chunk of chunks) {
        // write() may write less than asked; loop until the chunk is out.
        for (let done = 0; done < chunk.byteLength; ) {
          done += (await handle.write(chunk, done, chunk.byteLength - done)).bytesWritten;
        }
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined); // best effort: the temp may not exist
    throw new Error(`atomic write of ${path} failed`, { cause: err });
  }
  await fsyncDir(dir);
  return { bytes, sha256: hash.digest('hex') };
}
