// `make cluster`: a local cluster in the foreground until Ctrl-C (see local-cluster.ts for what runs).
import { join } from 'node:path';
import { clusterVolumesDir, HELM_INSTALL, OPERATOR, startLocalCluster } from './local-cluster.js';

async function main(): Promise<void> {
  const stamp = (): string => new Date().toISOString().slice(11, 19);
  process.stdout.write('starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the test node agent, ' +
    `then the operator: ${HELM_INSTALL} (about a minute on 2 cores)...\n`);
  const volumesDir = clusterVolumesDir();
  const c = await startLocalCluster({ keep: process.env.SIMCLR_CP_KEEP === '1', volumesDir,
    log: (line) => process.stdout.write(`${stamp()} ${line}\n`) });
  process.stdout.write(`
Local cluster up (test infrastructure: pods run as local processes on node ${c.agent.nodeName}).

  export KUBECONFIG=${c.cp.kubeconfigPath}
  export PATH=${c.cp.binDir}:$PATH        # kubectl and helm built for the tests
  kubectl apply -f examples/simclrjob.yaml
  kubectl get scj -w

The operator is the chart's (${HELM_INSTALL} ran): deployment/${OPERATOR}, two replicas, one leader.
Its REST API and dashboard are the chart's Service, ${c.operatorUrl} (HTTPS with the chart's certificate, bearer
tokens checked by the apiserver; the node agent proxies Services' cluster IPs, which are loopback addresses here):
  kubectl get secret ${OPERATOR}-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d > operator-ca.crt
  curl --cacert operator-ca.crt --resolve ${OPERATOR}.default.svc:${new URL(c.operatorUrl).port}:${new URL(c.operatorUrl).hostname} \\
    -H "Authorization: Bearer $(kubectl config view --raw -o jsonpath='{.users[0].user.token}')" https://${OPERATOR}.default.svc:${new URL(c.operatorUrl).port}/api/v1/jobs

Claims' folders (checkpoints, data): ${volumesDir}/pvc/<ns>/<claim>, never deleted by make cluster (remove them
yourself; SIMCLR_CLUSTER_VOLUMES=<dir> puts them elsewhere).
Logs: ${join(c.cp.dir, 'logs')}; pods' output (the operator's too): ${join(c.agent.root, 'pods')}/<ns>/<pod>-<uid>/<container>.log
A container that exits is restarted in place with a growing back-off (restartPolicy Always), as a kubelet would.
Ctrl-C stops everything${process.env.SIMCLR_CP_KEEP === '1' ? ' (files kept: SIMCLR_CP_KEEP=1)' : ' and deletes the logs and pod folders (SIMCLR_CP_KEEP=1 keeps them), never the claims\' folders'}.
`);
  let stopping = false;
  const shutdown = async (code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping...\n');
    await c.stop();
    process.exit(code);
  };
  // Ours run first: the harness's own handlers would kill the components without the operator and pods.
  process.prependListener('SIGINT', () => void shutdown());
  process.prependListener('SIGTERM', () => void shutdown());
  setInterval(() => undefined, 1 << 30); // stay in the foreground until a signal
}

main().catch((err: unknown) => {
  process.stderr.write(`make cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
