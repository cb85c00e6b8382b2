// Losses: NT-Xent for the contrastive objective, softmax cross entropy for the online classifier.
export { oneHot, softmaxCrossEntropy, topKCorrect, topKCorrectCount } from './cross-entropy.js';
export {
  NORM_EPS,
  SELF_MASK,
  blockPositives,
  l2Normalize,
  ntXent,
  ntXentBlockSum,
  ntXentLoss,
  pairingMask,
  positiveMask,
  selfMask,
} from './ntxent.js';
