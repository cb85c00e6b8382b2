// The trainer's last word as Kubernetes reports it: one line in the container's termination message file, which the
// kubelet copies into the pod's status (containerStatuses[].state.terminated.message) for the operator to read.
import { writeFileSync } from 'node:fs';
import {
  DEFAULT_TERMINATION_MESSAGE_PATH,
  MAX_TERMINATION_MESSAGE_BYTES,
  TERMINATION_MESSAGE_ENV,
} from '../contract/index.js';

/** Writes `line` to the file named by the env variable, else to /dev/termination-log when a kubelet created it (never
 * creates a file in /dev outside a pod). Best effort: a failure to write must not hide the error being reported. */
export function writeTerminationMessage(line: string, env: NodeJS.ProcessEnv = process.env): void {
  const named = env[TERMINATION_MESSAGE_ENV];
  const path = named !== undefined && named !== '' ? named : DEFAULT_TERMINATION_MESSAGE_PATH;
  const bytes = Buffer.from(line).subarray(0, MAX_TERMINATION_MESSAGE_BYTES);
  try {
    writeFileSync(path, bytes, { flag: path === named ? 'w' : 'r+' });
  } catch {
    /* not in a pod, or not writable: the line is on stderr too */
  }
}
