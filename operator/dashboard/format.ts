// How numbers and times read on the page. Every shown value also keeps its exact number in data-value.
export const DASH = '–';

export const loss = (x: number | undefined): string => (x === undefined ? DASH : x.toFixed(4));
export const lr = (x: number | undefined): string => (x === undefined ? DASH : x.toExponential(2));
export const rate = (x: number | undefined): string => (x === undefined ? DASH : x.toFixed(1));
export const percent = (x: number | undefined): string => (x === undefined ? DASH : `${(100 * x).toFixed(2)} %`);

export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hrs = Math.floor(m / 60);
  return hrs < 48 ? `${hrs}h ${m % 60}m` : `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** Age of an RFC 3339 time, as kubectl prints it (5s, 3m, 2h, 4d). */
export function age(time: string | undefined, now = Date.now()): string {
  if (time === undefined || time === '') return DASH;
  const s = Math.max(0, (now - Date.parse(time)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export const clock = (d: Date): string => d.toISOString().slice(11, 19);
