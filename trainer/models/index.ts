// Models: the SimCLR ResNet encoder + projection head + online classifier, their parameter specs and init.
export { updateRunningStats, type RunningStats } from './batchnorm.js';
export { BN_EPS, LayerBuilder, type BnStat, type Mode } from './layers.js';
export { initParameters, trainable, type Init, type ParamSpec } from './params.js';
export { encoderWidth, resnetEncoder, resolveStem, type Arch, type EncoderConfig, type Stem } from './resnet.js';
export {
  buildEncoder,
  buildSimclrModel,
  representationSize,
  type ModelBuild,
  type ModelConfig,
  type ModelOutputs,
} from './simclr.js';
