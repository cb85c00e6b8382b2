// A one-line terminal progress bar, drawn only when the stream is a TTY (logs cover the other cases).
export interface BarState {
  label: string;
  current: number;
  total: number;
  /** Extra "name value" pairs shown after the counts. */
  fields?: Readonly<Record<string, string>>;
  etaSeconds?: number | null;
}

interface TtyStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** 75 -> "1m15s", 3700 -> "1h01m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The bar as text, fitted to `columns`. */
export function renderBar(state: BarState, columns: number): string {
  const fraction = state.total > 0 ? Math.min(1, Math.max(0, state.current / state.total)) : 0;
  const counts = `${state.current}/${state.total}`;
  const extras = Object.entries(state.fields ?? {}).map(([k, v]) => `${k} ${v}`);
  if (state.etaSeconds !== undefined && state.etaSeconds !== null) extras.push(`eta ${formatDuration(state.etaSeconds)}`);
  const tail = [counts, ...extras].join(' | ');
  const barWidth = Math.max(10, Math.min(40, columns - state.label.length - tail.length - 6));
  const filled = Math.round(fraction * barWidth);
  const line = `${state.label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${tail}`;
  return line.length > columns ? line.slice(0, columns) : line;
}

export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  /** `minIntervalMs` throttles redraws so a fast loop does not spend its time on the terminal. */
  constructor(
    private readonly stream: TtyStream = process.stderr,
    private readonly minIntervalMs = 100,
  ) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(state: BarState, now: number = Date.now()): void {
    if (!this.enabled) return;
    const final = state.current >= state.total;
    if (!final && now - this.lastDraw < this.minIntervalMs) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r\x1b[K${renderBar(state, this.stream.columns ?? 100)}`);
  }

  /** End the bar's line so the next output starts on a fresh one. */
  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
