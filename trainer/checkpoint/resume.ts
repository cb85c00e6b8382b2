// Where a resume starts: the newest checkpoint that verifies. The ones that do not are moved aside into
// <dir>/corrupt/<time>/, kept for inspection and never deleted: left in place, the checkpoints this run writes under
// the same names would be renamed over them, and pruning (by name) would delete them or the new ones.
import { mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { baseName, listManifests, loadCheckpoint, reasonOf, type LoadedCheckpoint } from './store.js';

export const CORRUPT_FOLDER = 'corrupt';

export interface CorruptCheckpoint {
  step: number;
  /** Why it did not verify, one line. */
  reason: string;
}

export interface ResumePoint {
  /** The newest checkpoint that verified, if any. */
  checkpoint?: LoadedCheckpoint;
  /** Newer checkpoints that did not verify, newest first. */
  corrupt: CorruptCheckpoint[];
  /** Where their files now are (when there were any). */
  movedTo?: string;
}

const stepOf = (manifestPath: string): number => Number(/step-(\d+)\.json$/.exec(manifestPath)?.[1] ?? NaN);

export async function resumePoint(dir: string, now = new Date()): Promise<ResumePoint> {
  const corrupt: CorruptCheckpoint[] = [];
  let checkpoint: LoadedCheckpoint | undefined;
  for (const manifestPath of await listManifests(dir)) {
    try {
      checkpoint = await loadCheckpoint(manifestPath);
      break;
    } catch (err) {
      corrupt.push({ step: stepOf(manifestPath), reason: reasonOf(err) });
    }
  }
  if (corrupt.length === 0) return { checkpoint, corrupt };
  const movedTo = join(dir, CORRUPT_FOLDER, now.toISOString().replace(/[:.]/g, '-'));
  await mkdir(movedTo, { recursive: true });
  for (const { step } of corrupt) {
    for (const ext of ['.json', '.safetensors']) {
      const from = join(dir, baseName(step) + ext);
      await rename(from, join(movedTo, basename(from))).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new Error(`cannot move the corrupt checkpoint ${from} aside`, { cause: err });
      });
    }
  }
  return { checkpoint, corrupt, movedTo };
}
