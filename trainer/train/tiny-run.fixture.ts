// Test fixture for loop.test.ts and cli/main.test.ts: a whole training run small enough for a test. The synthetic
// data set (2048 images: 16 steps of 128 per epoch), a ResNet-18 at width 1/16 on 12 px crops, one epoch, LARS with a
// quarter-epoch warmup, kNN with k=20. Tests add --uid, their folders and what they exercise.
export const TINY_RUN_FLAGS: readonly string[] = [
  '--dataset=synthetic',
  '--epochs=1',
  '--batch-size=128',
  '--image-size-override=12',
  '--width-multiplier=0.0625',
  '--head-latent-size=32',
  '--nce-size=16',
  '--optimizer=lars',
  '--lr=0.5',
  '--warmup=0.25',
  '--threads=2',
  '--knn-k=20',
];
