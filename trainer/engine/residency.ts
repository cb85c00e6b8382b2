// Moving ParameterStore entries between the host and the provider's memory, each way as one compiled identity program
// over every entry moved (one run, not one per tensor). On the CPU provider "device" memory is ORT's own: programs
// are then fed without a copy from JS per run.
import { Graph, op } from '../graph/index.js';
import type { Engine } from './engine.js';
import type { ParameterStore } from './params.js';
import type { Program } from './program.js';

const programs = new WeakMap<Engine, Map<string, Program>>();

/** Every entry of `store` (or those named) that is on the host now lives in the provider's memory. */
export async function moveToDevice(engine: Engine, store: ParameterStore, names: readonly string[] = store.names()): Promise<void> {
  const moving = names.filter((n) => store.require(n).device === undefined);
  if (moving.length === 0) return;
  const program = await identityProgram(engine, store, moving, 'upload');
  const feeds = Object.fromEntries(moving.map((n) => [n, store.require(n).data]));
  const { kept } = await program.runDevice(feeds, undefined, { keep: moving.map(outName) });
  for (const n of moving) store.require(n).setDevice(kept[outName(n)]!);
}

/** Every entry of `store` that lives in the provider's memory is brought back to a host array. */
export async function moveToHost(engine: Engine, store: ParameterStore): Promise<void> {
  const moving = store.names().filter((n) => store.require(n).device !== undefined);
  if (moving.length === 0) return;
  const program = await identityProgram(engine, store, moving, 'download');
  const feeds = Object.fromEntries(moving.map((n) => [n, store.require(n).device!]));
  const { fetched } = await program.runDevice(feeds, undefined, { fetch: moving.map(outName) });
  for (const n of moving) store.require(n).data = fetched[outName(n)]!.data as Float32Array;
}

/** Host copies of the named entries, where they live on the device (a host entry is returned as it is); the store is
 * left as it is, so the state stays in the provider's memory (what --polyak-ema reads every step). */
export async function copyToHost(engine: Engine, store: ParameterStore, names: readonly string[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  const onDevice = names.filter((n) => store.require(n).device !== undefined);
  for (const n of names) if (store.require(n).device === undefined) out.set(n, store.require(n).data);
  if (onDevice.length === 0) return out;
  const program = await identityProgram(engine, store, onDevice, 'download');
  const feeds = Object.fromEntries(onDevice.map((n) => [n, store.require(n).device!]));
  const { fetched } = await program.runDevice(feeds, undefined, { fetch: onDevice.map(outName) });
  for (const n of onDevice) out.set(n, fetched[outName(n)]!.data as Float32Array);
  return out;
}

const outName = (name: string): string => `moved/${name}`;

async function identityProgram(engine: Engine, store: ParameterStore, names: readonly string[], way: string): Promise<Program> {
  let cache = programs.get(engine);
  if (cache === undefined) {
    cache = new Map();
    programs.set(engine, cache);
  }
  const key = `${way}:${names.map((n) => `${n}[${store.require(n).shape.join(',')}]`).join(';')}`;
  let program = cache.get(key);
  if (program === undefined) {
    const g = new Graph(`${way}_${names.length}`, engine.provider);
    for (const n of names) g.output(outName(n), op.identity(g.input(n, store.require(n).shape)));
    program = await engine.compile(g);
    cache.set(key, program);
  }
  return program;
}
