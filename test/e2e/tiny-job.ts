// The SimCLRJob the end-to-end tests apply, with its two claims: 2 replicas of a ResNet-18 at width 1/16 on 16 px
// crops of a Fashion-MNIST subset, LARS, one thread each. Rank 0's ports are picked free at run time: every pod of
// the test node agent shares this machine's network, and other clusters on it (other test runs) use the defaults.

export interface TinyJob {
  namespace: string;
  job: string;
  /** The claim the data set is on. */
  dataClaim: string;
  masterPort: number;
  progressPort: number;
  batchSize: number;
  epochs: number;
  checkpointEvery: number;
  logLevel?: 'debug' | 'info';
}

export function tinyJobManifest(j: TinyJob): string {
  return `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${j.dataClaim}, namespace: ${j.namespace}}
spec: {accessModes: [ReadOnlyMany], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${j.job}-checkpoints, namespace: ${j.namespace}}
spec: {accessModes: [ReadWriteMany], resources: {requests: {storage: 1Gi}}}
---
apiVersion: simclr.dev/v1alpha1
kind: SimCLRJob
metadata: {name: ${j.job}, namespace: ${j.namespace}}
spec:
  image: simclr-trainer:0.1.0
  replicas: 2
  masterPort: ${j.masterPort}
  progressPort: ${j.progressPort}
  data: {claimName: ${j.dataClaim}}
  checkpoint: {claimName: ${j.job}-checkpoints}
  runPolicy: {backoffLimit: 2, backoffSeconds: 1}
  training:
    dataset: fashion-mnist
    arch: resnet18
    widthMultiplier: 0.0625
    imageSizeOverride: 16
    headLatentSize: 32
    nceSize: 16
    batchSize: ${j.batchSize}
    epochs: ${j.epochs}
    warmup: 1
    optimizer: lars
    threads: 1
    workersPerReplica: 0
    knnK: 20
    checkpointEvery: ${j.checkpointEvery}
${j.logLevel ? `    logLevel: ${j.logLevel}\n` : ''}`;
}
