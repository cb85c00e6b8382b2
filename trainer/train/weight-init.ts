// --weight-initialization: start training from the weights of an earlier run, a checkpoint or an exported
// encoder.onnx. Every problem a user can fix (no such file, not a checkpoint or an ONNX model, weights of another
// architecture) is a ConfigError naming the flag, so the CLI exits 2 with one line before any step runs.
import { readFile, stat } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { latestValid, loadCheckpoint, reasonOf, type LoadedCheckpoint } from '../checkpoint/index.js';
import { ConfigError } from '../contract/index.js';
import type { ParameterStore } from '../engine/index.js';
import type { ParamSpec } from '../models/index.js';

const { onnx } = onnxProto;
const FLAG = 'weight-initialization';

/** Named float32 tensors read from the file, and what they cover. */
export interface InitialWeights {
  readonly path: string;
  readonly kind: 'checkpoint' | 'encoder';
  readonly tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;
}

// The seed's --weight-initialization names an init scheme (helpers/layers.py init_weights); ours takes a file.
const SEED_SCHEMES = ['xavier_uniform', 'xavier_normal', 'orthogonal', 'kaiming_normal', 'kaiming_uniform'];

const refuse = (path: string, why: string): ConfigError => new ConfigError(`--${FLAG}=${path}: ${why}`, FLAG);

/** The error and its causes on one line (a zod cause's issue list is long: cut). */
function shortReason(err: unknown): string {
  const line = reasonOf(err).replace(/\s+/g, ' ');
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** Reads a checkpoint manifest, a run folder (its newest valid checkpoint) or an exported encoder.onnx. */
export async function readInitialWeights(path: string): Promise<InitialWeights> {
  const kind = await stat(path).then((s) => (s.isDirectory() ? 'dir' : 'file'), () => undefined);
  if (kind === undefined) {
    if (SEED_SCHEMES.includes(path)) {
      throw refuse(path, 'the seed\'s init schemes are not supported: this flag takes a checkpoint or an encoder.onnx ' +
        'to start from; drop it for the default init (He-normal convolutions, as torchvision\'s ResNet)');
    }
    throw refuse(path, 'no such file or folder: give a checkpoint (step-*.json, or a run folder under --model-dir) or an exported encoder.onnx');
  }
  if (kind === 'dir') {
    const ckpt = await latestValid(path, () => {});
    if (ckpt === undefined) throw refuse(path, 'no valid checkpoint in this folder: give a step-*.json manifest or an encoder.onnx');
    return fromCheckpoint(path, ckpt);
  }
  if (path.endsWith('.onnx')) return fromEncoder(path);
  try {
    return fromCheckpoint(path, await loadCheckpoint(path));
  } catch (err) {
    throw refuse(path, `not a readable checkpoint (${shortReason(err)}): give a step-*.json manifest, a run folder or an encoder.onnx`);
  }
}

function fromCheckpoint(path: string, ckpt: LoadedCheckpoint): InitialWeights {
  const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(ckpt.weights)) {
    if (t.data instanceof Float32Array) tensors.set(name, { shape: t.shape, data: t.data });
  }
  return { path, kind: 'checkpoint', tensors };
}

async function fromEncoder(path: string): Promise<InitialWeights> {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(await readFile(path));
  } catch (err) {
    throw refuse(path, `not a readable ONNX model (${shortReason(err)}): give an encoder.onnx written by simclr export or train`);
  }
  const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT || typeof t.name !== 'string') continue;
    const shape = (t.dims ?? []).map(Number);
    const raw = t.rawData;
    const data = raw && raw.length > 0
      ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
      : Float32Array.from(t.floatData ?? []);
    tensors.set(t.name, { shape, data });
  }
  return { path, kind: 'encoder', tensors };
}

const isEncoder = (name: string): boolean => !name.startsWith('head.') && !name.startsWith('classifier.');
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Copies the weights into `store`. The encoder must match tensor for tensor (its weights and BatchNorm statistics);
 * the projection head and the online classifier are taken where their shapes match (another --nce-size or data set
 * with other classes starts them fresh). Returns which parts came from the file.
 */
export function applyInitialWeights(init: InitialWeights, specs: readonly ParamSpec[], store: ParameterStore): { loaded: number; fresh: string[] } {
  let loaded = 0;
  const fresh: string[] = [];
  for (const s of specs) {
    const t = init.tensors.get(s.name);
    const fits = t !== undefined && sameShape(t.shape, s.shape) && t.data.length === store.require(s.name).data.length;
    if (!fits && isEncoder(s.name)) {
      const what = t === undefined ? 'has no tensor' : `has shape [${t.shape.join(', ')}], not [${s.shape.join(', ')}], for`;
      throw refuse(init.path, `the ${init.kind} ${what} ${s.name}: it was trained with another --arch, --width-multiplier, ` +
        '--stem or number of input channels; use the same ones');
    }
    if (!fits) {
      fresh.push(s.name);
      continue;
    }
    store.require(s.name).data.set(t.data);
    loaded++;
  }
  return { loaded, fresh };
}
