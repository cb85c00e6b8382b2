// Export: the encoder (eval mode: BatchNorm with running statistics, up to the representation h) as a standalone
// ONNX inference model. Weights and running statistics become initializers; the batch dimension of x and h is
// symbolic ("N"); metadata_props carry the input contract (size, channels, value range, normalisation) so a consumer
// can prepare images without this code.
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { latestValid, loadCheckpoint, manifestPathOf, writeFileAtomic, type LoadedCheckpoint } from '../../checkpoint/index.js';
import { TrainConfig } from '../../contract/index.js';
import { Graph } from '../../graph/index.js';
import { buildEncoder, representationSize, type ModelConfig } from '../../models/index.js';
import { bestStepIn } from '../early-stop.js';
import type { InputContract } from '../run-setup.js';

const { onnx } = onnxProto;

/** Where a finished run leaves its encoder: <model-dir>/<uid>/encoder.onnx. */
export const ENCODER_FILE = 'encoder.onnx';

export interface ExportedModel {
  bytes: Uint8Array;
  metadata: Record<string, string>;
  contract: InputContract;
  model: ModelConfig;
}

/** The model and input contract a checkpoint was trained with (kept in its extra). */
export function checkpointModel(ckpt: LoadedCheckpoint): { config: TrainConfig; contract: InputContract; model: ModelConfig } {
  const config = TrainConfig.parse(ckpt.config);
  const contract = ckpt.extra?.input as InputContract | undefined;
  const model = ckpt.extra?.model as ModelConfig | undefined;
  if (contract === undefined || model === undefined) {
    throw new Error(`${ckpt.manifestPath}: no input contract / model config in the manifest (not written by simclr train?)`);
  }
  return { config, contract, model };
}

/** Encoder ONNX bytes from a checkpoint's weights: its Polyak average when it keeps one (--polyak-ema). */
export function exportEncoder(ckpt: LoadedCheckpoint): ExportedModel {
  const { config, contract, model } = checkpointModel(ckpt);
  const g = new Graph('simclr_encoder');
  const x = g.input('x', [1, contract.inputChannels, contract.height, contract.width]);
  const { h } = buildEncoder(g, x, model, 'eval');
  g.output('h', h);
  const metadata: Record<string, string> = {
    'simclr.input_name': 'x',
    'simclr.output_name': 'h',
    'simclr.input_layout': 'NCHW',
    'simclr.input_channels': String(contract.inputChannels),
    'simclr.input_height': String(contract.height),
    'simclr.input_width': String(contract.width),
    ...(contract.trainHeight !== undefined && contract.trainWidth !== undefined
      ? { 'simclr.train_height': String(contract.trainHeight), 'simclr.train_width': String(contract.trainWidth) }
      : {}),
    'simclr.value_range': 'pixels scaled to [0, 1], then (x - mean) / std per channel',
    'simclr.normalization_mean': JSON.stringify(contract.normalization.mean),
    'simclr.normalization_std': JSON.stringify(contract.normalization.std),
    'simclr.representation_size': String(representationSize(model)),
    'simclr.arch': model.arch,
    'simclr.stem': model.stem,
    'simclr.width_multiplier': String(model.widthMultiplier),
    'simclr.dataset': contract.dataset,
    'simclr.uid': config.uid ?? '',
    'simclr.step': String(ckpt.step),
    'simclr.weights': ckpt.ema !== undefined ? 'polyak-ema' : 'trained',
  };
  const weights = ckpt.ema ?? ckpt.weights;
  const weight = (name: string): Float32Array | undefined => {
    if (name === x.name) return undefined;
    const t = weights[name];
    if (t === undefined || !(t.data instanceof Float32Array)) throw new Error(`export: checkpoint has no float32 tensor '${name}'`);
    return t.data;
  };
  // The weights and running statistics become initializers: x is the model's only input.
  const proto = onnx.ModelProto.decode(g.toOnnx({ outputs: ['h'], metadata, fixedInputs: weight }));
  const graph = proto.graph as OnnxTypes.GraphProto;
  for (const vi of [...graph.input, ...graph.output]) {
    const dims = vi.type?.tensorType?.shape?.dim;
    if (dims && dims.length > 0) dims[0] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'N' });
  }
  const bytes = onnx.ModelProto.encode(proto).finish();
  return { bytes, metadata, contract, model };
}

/** The checkpoint a run folder's encoder comes from: --early-stop's best when the run kept one (and `preferBest`), else
 * the newest valid. */
export async function exportedCheckpoint(dir: string, onWarning: (m: string) => void, preferBest = true): Promise<LoadedCheckpoint | undefined> {
  const best = preferBest ? await bestStepIn(dir) : undefined;
  if (best !== undefined) {
    try {
      return await loadCheckpoint(manifestPathOf(dir, best));
    } catch (err) {
      onWarning(`the best checkpoint (step ${best}, early-stop.json) cannot be read, exporting the newest instead: ${(err as Error).message}`);
    }
  }
  return latestValid(dir, onWarning);
}

/** simclr export: the best (--early-stop) or newest valid checkpoint of <modelDir>/<uid> -> out. */
export async function exportFromDir(
  dir: string,
  out: string,
  onWarning: (m: string) => void,
  preferBest = true,
): Promise<ExportedModel & { step: number }> {
  const ckpt = await exportedCheckpoint(dir, onWarning, preferBest);
  if (ckpt === undefined) throw new Error(`no valid checkpoint in ${dir}: train first (simclr train --uid ...)`);
  const exported = exportEncoder(ckpt);
  await writeFileAtomic(out, [exported.bytes]);
  return { ...exported, step: ckpt.step };
}

/** Metadata of an exported model file. */
export async function readModelMetadata(path: string): Promise<Record<string, string>> {
  const proto = onnx.ModelProto.decode(await readFile(path));
  const out: Record<string, string> = {};
  for (const p of proto.metadataProps) out[p.key as string] = p.value as string;
  return out;
}
