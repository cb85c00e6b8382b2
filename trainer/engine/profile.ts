// Reads ORT's per-node profile (Engine.create({ profilePrefix }); the file is written when the session is released)
// and splits kernel time per run into the graph's scopes: nodes the autodiff built are named 'grad/<Op>_<i>'
// (trainer/graph GRAD_SCOPE), the rest of ours '<Op>_<i>'. Nodes ORT makes itself while optimizing (NCHWc Convs it
// renames 'conv_<i>_nchwc', their ReorderOutput, transposes it moved) carry neither name: they go to the scope of
// the named node that ran just before them (the node they serve, in practice) and are also totalled apart.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
}

export interface RunSplit {
  /** Wall time ORT measured for the run (model_run), ms. */
  runMs: number;
  /** Kernel time per scope, ms (ORT-made nodes included). */
  kernelMs: Record<Scope, number>;
  /** Kernel time of the nodes ORT made itself, ms (already counted in kernelMs). */
  ortMadeMs: number;
}

export type Scope = 'forward' | 'backward';

/** The newest profile file written for this prefix (each session writes its own, '<prefix>_<date>.json'). */
export function latestProfile(prefix: string): string {
  const dir = dirname(prefix);
  const base = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(`${base}_`) && f.endsWith('.json')).map((f) => join(dir, f));
  if (files.length === 0) throw new Error(`no ORT profile written under ${prefix}_*.json (was the session released?)`);
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
}

/** Which scope an ORT node name belongs to (ORT keeps our name as a prefix of nodes it fuses); null: ORT-made. */
export function scopeOf(nodeName: string, gradScope: string): Scope | null {
  if (nodeName.startsWith(`${gradScope}/`)) return 'backward';
  return /^[A-Z][A-Za-z0-9]*_\d+/.test(nodeName) ? 'forward' : null;
}

/** Per model run (in order), kernel time per scope. */
export function splitRuns(profilePath: string, gradScope: string): RunSplit[] {
  const events = JSON.parse(readFileSync(profilePath, 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const out: RunSplit[] = runs.map((r) => ({ runMs: r.dur / 1e3, kernelMs: { forward: 0, backward: 0 }, ortMadeMs: 0 }));
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts);
  let last: Scope = 'forward';
  for (const e of kernels) {
    const i = runs.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
    if (i < 0) continue;
    const own = scopeOf(e.name.slice(0, -'_kernel_time'.length), gradScope);
    last = own ?? last;
    out[i]!.kernelMs[last] += e.dur / 1e3;
    if (own === null) out[i]!.ortMadeMs += e.dur / 1e3;
  }
  return out;
}
