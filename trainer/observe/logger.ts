// The one logger factory: pino JSON lines (for pods and files), or a compact human line on a terminal.
// Create it once at start from the parsed config and pass it (or .child({...})) down.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

interface Destination {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface LoggerOptions {
  level?: string;
  /** Fields on every line, e.g. { uid, rank }. */
  bindings?: Record<string, unknown>;
  /** Default: process.stdout. */
  destination?: Destination;
  /** Human-readable lines; default: when the destination is a terminal. */
  pretty?: boolean;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One pino JSON line -> "12:34:56.789 INFO  message key=value ...". */
export function formatLogLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine; // not ours: pass through
  }
  const time = new Date(Number(record.time)).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[Number(record.level)] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [time, level, String(record.msg ?? ''), ...fields].join(' ').trimEnd() + '\n';
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? process.stdout;
  const pretty = opts.pretty ?? destination.isTTY === true;
  const options = { level: opts.level ?? 'info', base: opts.bindings ?? {} };
  if (!pretty) return pino(options, destination);
  // "\r\x1b[K" first: clear a progress bar that may occupy the current terminal line.
  return pino(options, { write: (line: string) => destination.write(`\r\x1b[K${formatLogLine(line)}`) });
}
