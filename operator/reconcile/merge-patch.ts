// JSON merge patch (RFC 7386) with one strategic twist: lists of named items (containers, initContainers,
// volumes, volumeMounts, env, ports) merge by name, so a podTemplate patch can add an env var to the trainer
// container without restating it.
type Json = unknown;

const MERGE_BY_NAME: ReadonlySet<string> = new Set([
  'containers',
  'initContainers',
  'volumes',
  'volumeMounts',
  'env',
  'ports',
]);

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNamedList = (v: Json): v is Array<Record<string, Json>> =>
  Array.isArray(v) && v.every((i) => isObject(i) && typeof i.name === 'string');

function mergeNamed(target: Array<Record<string, Json>>, patch: Array<Record<string, Json>>): Json[] {
  const out: Json[] = target.map((t) => {
    const p = patch.find((i) => i.name === t.name);
    return p === undefined ? t : mergePatch(t, p);
  });
  for (const p of patch) if (!target.some((t) => t.name === p.name)) out.push(mergePatch({}, p));
  return out;
}

/** Returns target with patch applied; neither argument is modified. A null in the patch deletes the key. */
export function mergePatch(target: Json, patch: Json, key = ''): Json {
  if (MERGE_BY_NAME.has(key) && isNamedList(target) && isNamedList(patch)) return mergeNamed(target, patch);
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v, k);
  }
  return out;
}
