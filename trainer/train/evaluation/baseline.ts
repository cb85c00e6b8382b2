// Baselines under the same evaluation protocol as a trained run (kNN k/T and the offline linear probe): the same
// encoder at random initialisation (seeded by --seed, BN running stats at their initial 0/1, i.e. what
// `simclr train` would evaluate before its first step) and raw normalised pixels; with --weight-initialization, also
// the encoder that file holds (a checkpoint or an exported encoder.onnx: what training from it would start with).
import type { TrainConfig } from '../../contract/index.js';
import { openDataset } from '../../data/index.js';
import { ParameterStore } from '../../engine/index.js';
import { initParameters } from '../../models/index.js';
import { knnAccuracy } from './accuracy.js';
import { EvalForward, pixelFeatures, type Features } from './features.js';
import { DEFAULT_PROBE, linearProbe } from './probe.js';
import { createEngine, inputContractOf, modelConfigFor } from '../run-setup.js';
import { applyInitialWeights, readInitialWeights } from '../weight-init.js';
import { buildSimclrModel } from '../../models/index.js';
import { Graph } from '../../graph/index.js';

export interface BaselineRow {
  features: 'random-init' | 'weight-initialization' | 'raw-pixels' | 'raw-pixels-at-input-size';
  dim: number;
  knnTop1: number;
  probeTop1: number;
  probeTop5: number;
}

export async function baselines(config: TrainConfig, log: (row: BaselineRow) => void = () => undefined): Promise<BaselineRow[]> {
  const source = { name: config.dataset, dir: config.dataDir, seed: config.seed };
  const [train, test] = await Promise.all([openDataset(source, 'train'), openDataset(source, 'test')]);
  // Read (and refused, exit 2) before any scoring, as train reads it before its first step.
  const initial = config.weightInitialization !== undefined ? await readInitialWeights(config.weightInitialization) : undefined;
  const contract = inputContractOf(config, train);
  const model = modelConfigFor(config, contract);
  const engine = await createEngine(config);
  const score = async (name: BaselineRow['features'], tr: Features, te: Features): Promise<BaselineRow> => {
    const knn = await knnAccuracy(engine, tr, te, { k: config.knnK, temperature: 0.1, numClasses: test.numClasses });
    const probe = await linearProbe(engine, tr, te, { ...DEFAULT_PROBE, numClasses: test.numClasses, seed: config.seed });
    const row = { features: name, dim: tr.dim, knnTop1: knn.top1, probeTop1: probe.top1, probeTop5: probe.top5 };
    log(row);
    return row;
  };
  const rows: BaselineRow[] = [];
  // Random init: the parameter specs of the full model (same names and seeded draws as train's initialisation).
  const g = new Graph('specs');
  const specs = buildSimclrModel(g, g.input('x', [1, contract.inputChannels, contract.height, contract.width]), model, 'eval').params;
  const store = new ParameterStore();
  const init = initParameters(specs, config.seed);
  for (const s of specs) store.set(s.name, s.shape, init.get(s.name));
  const forward = EvalForward.create(engine, { model, batchSize: 500, height: contract.height, width: contract.width });
  rows.push(await score('random-init', await forward.features(train, store), await forward.features(test, store)));
  if (initial !== undefined) {
    applyInitialWeights(initial, specs, store);
    rows.push(await score('weight-initialization', await forward.features(train, store), await forward.features(test, store)));
  }
  rows.push(await score('raw-pixels', await pixelFeatures(train), await pixelFeatures(test)));
  if (contract.height !== train.height || contract.width !== train.width) {
    const [h, w] = [contract.height, contract.width];
    rows.push(await score('raw-pixels-at-input-size', await pixelFeatures(train, train.length, h, w), await pixelFeatures(test, test.length, h, w)));
  }
  return rows;
}
