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

/**
 * Which scope an ORT node name belongs to (ORT keeps our name as a prefix of nodes it fuses; forward nodes may sit in
 * a scope of their own, a Conv layer's 'conv3/Conv_57'); null: ORT-made.
 */
export function scopeOf(nodeName: string, gradScope: string): Scope | null {
  if (nodeName.startsWith(`${gradScope}/`)) return 'backward';
  return /^(?:[\w.]+\/)*[A-Z][A-Za-z0-9]*_\d+/.test(nodeName) ? 'forward' : null;
}

/** A kernel event by our node name (ORT's '<name>_kernel_time' without the suffix), with the model run it fell in. */
interface Kernel { name: string; durMs: number; run: number }

/** The profile's model runs and its kernel events, both in time order (a kernel outside every run gets run -1). */
function readProfile(profilePath: string): { runs: ProfileEvent[]; kernels: Kernel[] } {
  const events = JSON.parse(readFileSync(profilePath, 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts).map((e) => ({
    name: e.name.slice(0, -'_kernel_time'.length),
    durMs: e.dur / 1e3,
    run: runs.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur),
  }));
  return { runs, kernels };
}

/** Per model run (in order), kernel time per scope. */
export function splitRuns(profilePath: string, gradScope: string): RunSplit[] {
  const { runs, kernels } = readProfile(profilePath);
  const out: RunSplit[] = runs.map((r) => ({ runMs: r.dur / 1e3, kernelMs: { forward: 0, backward: 0 }, ortMadeMs: 0 }));
  let last: Scope = 'forward';
  for (const k of kernels) {
    if (k.run < 0) continue;
    const own = scopeOf(k.name, gradScope);
    last = own ?? last;
    out[k.run]!.kernelMs[last] += k.durMs;
    if (own === null) out[k.run]!.ortMadeMs += k.durMs;
  }
  return out;
}

/** Per model run (in order), the kernel time of the nodes whose name (ours, ORT's suffixes stripped) matches. */
export function kernelMsByRun(profilePath: string, name: RegExp): number[] {
  const { runs, kernels } = readProfile(profilePath);
  const out = runs.map(() => 0);
  for (const k of kernels) if (k.run >= 0 && name.test(k.name)) out[k.run]! += k.durMs;
  return out;
}

/** One Conv layer's kernel time per run, ms, by part. */
export interface LayerTime {
  forward: number;
  dx: number;
  dw: number;
  /** Gradient nodes not split into dX and dW: a layer whose forward runs as Gather + GEMM. */
  backward: number;
}

type LayerPart = keyof LayerTime;
interface Owner { layer: string; part: LayerPart }

/**
 * Kernel time of each Conv layer per run, the median over runs (one slow first run, ORT growing its arena, would
 * otherwise dominate a mean): trainer/graph's conv2d builds a layer in scope 'conv<k>' and autodiff its gradients in
 * 'grad/conv<k>' (a Conv node's in 'grad/conv<k>.dx' and '.dw'). Runs before `fromRun` are left out (the warm-up).
 * Nodes ORT made: an NCHWc Conv 'conv_<i>_nchwc' is our Conv whose output value is 'conv_<i>' (`scopeOfValue` gives
 * the scope it was built in); a ReorderInput serves the node after it; anything else ORT made, the node before it.
 */
export function layerTimes(profilePath: string, gradScope: string, scopeOfValue: (valueName: string) => string | undefined, fromRun = 0): Map<string, LayerTime> {
  const { runs, kernels } = readProfile(profilePath);
  const named = kernels.map((k): Owner | null | 'ort' => {
    const nchwc = /^(conv_\d+)_nchwc/.exec(k.name);
    if (nchwc) return ownerOf(scopeOfValue(nchwc[1]!) ?? '', gradScope);
    return scopeOf(k.name, gradScope) === null ? 'ort' : ownerOf(k.name, gradScope);
  });
  const perRun = runs.map(() => new Map<string, LayerTime>());
  kernels.forEach((k, i) => {
    let owner = named[i];
    if (owner === 'ort') {
      const reorderIn = k.name.startsWith('ReorderInput');
      for (let j = i; owner === 'ort' && j >= 0 && j < kernels.length; j += reorderIn ? 1 : -1) owner = named[j]!;
    }
    if (k.run < fromRun || !owner || owner === 'ort') return;
    const t = perRun[k.run]!.get(owner.layer) ?? { forward: 0, dx: 0, dw: 0, backward: 0 };
    t[owner.part] += k.durMs;
    perRun[k.run]!.set(owner.layer, t);
  });
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const out = new Map<string, LayerTime>();
  const counted = perRun.slice(fromRun);
  for (const layer of new Set(counted.flatMap((m) => [...m.keys()]))) {
    const part = (p: LayerPart): number => median(counted.map((m) => m.get(layer)?.[p] ?? 0));
    out.set(layer, { forward: part('forward'), dx: part('dx'), dw: part('dw'), backward: part('backward') });
  }
  return out;
}

/** 'conv3/Conv_5' -> forward of conv3; 'grad/conv3.dw/MatMul_8' -> its dW; 'grad/conv3/...' -> its backward. */
function ownerOf(scopeOrName: string, gradScope: string): Owner | null {
  const m = /(?:^|\/)(conv\d+)(?:\.(dx|dw))?(?:\/|$)/.exec(scopeOrName);
  if (!m) return null;
  return { layer: m[1]!, part: scopeOrName.startsWith(`${gradScope}/`) ? (m[2] as 'dx' | 'dw' | undefined) ?? 'backward' : 'forward' };
}
