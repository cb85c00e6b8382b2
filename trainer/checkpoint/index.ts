// trainer/checkpoint: atomic, verifiable checkpoints in safetensors layout with a JSON manifest.
export { saveCheckpoint, latestValid, loadCheckpoint, listManifests, manifestPathOf, pruneCheckpoints, reasonOf } from './store.js';
export type { CheckpointData, LoadedCheckpoint, SavedCheckpoint, Manifest, WarningSink } from './store.js';
export { encodeSafetensors, decodeSafetensors, f32, DTYPE_BYTES } from './safetensors.js';
export type { DType, Tensor, TensorData, TensorMap } from './safetensors.js';
export { writeFileAtomic } from './atomic-file.js';
export { CORRUPT_FOLDER, resumePoint } from './resume.js';
export type { CorruptCheckpoint, ResumePoint } from './resume.js';
