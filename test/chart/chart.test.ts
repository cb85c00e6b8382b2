// The Helm chart (charts/simclr-operator) and the images' contracts, checked with the real tools: helm lint,
// helm template -> kubectl apply --dry-run=server and helm install against a real kube-apiserver (test harness),
// the values schema, the CRD copy, RBAC derived from the operator's own API calls, and the trainer image's
// entrypoint against the pods the operator builds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { ADMIN_VOLUME_SOURCE_KINDS, GROUP, PLURAL, POD_GROUP_APIS, POD_GROUPS, VERSION, parseSimCLRJob, type SimCLRJob } from '../../operator/api/schema.js';
import { loadConfig } from '../../operator/config.js';
import * as informers from '../../operator/controller/informers.js';
import { desiredPods } from '../../operator/reconcile/desired.js';
import { ownerReference } from '../../operator/reconcile/names.js';
import { eventually } from '../controlplane/eventually.js';
import { defaultBinDir, requireBinaries, startControlPlane, type ControlPlane } from '../controlplane/harness.js';

/** The repository root (this file runs from test/chart or, compiled, from dist/test/chart). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'charts', 'simclr-operator', 'Chart.yaml'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root (charts/simclr-operator) not found above this test');
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const CHART = join(ROOT, 'charts', 'simclr-operator');
const BIN = defaultBinDir();
const HELM_HOME = mkdtempSync(join(tmpdir(), 'simclr-helm-'));
const RELEASE = 'simclr';
const FULLNAME = 'simclr-simclr-operator';
after(() => rmSync(HELM_HOME, { recursive: true, force: true }));

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string }; [k: string]: any };
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; nonResourceURLs?: string[] };

function helm(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  requireBinaries(BIN, ['helm']); // a clear message naming test/controlplane/build.sh when helm is missing
  return new Promise((resolve, reject) => {
    execFile(join(BIN, 'helm'), args, {
      env: { ...env, HELM_CACHE_HOME: join(HELM_HOME, 'cache'), HELM_CONFIG_HOME: join(HELM_HOME, 'config'),
        HELM_DATA_HOME: join(HELM_HOME, 'data') },
      maxBuffer: 64 << 20,
      timeout: 120_000,
    }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`helm ${args.join(' ')}: ${stderr || err.message}`), { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

const docs = (text: string): Obj[] => (yaml.loadAll(text) as Array<Obj | null>).filter((d): d is Obj => d != null);
const template = async (...args: string[]): Promise<Obj[]> =>
  docs((await helm(['template', RELEASE, CHART, '--namespace', 'simclr-system', ...args])).stdout);
const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` ${name}` : ''} in the chart`);
  return found[0]!;
};

// ---------------------------------------------------------------------------------------------------------------
// RBAC derived from the operator's code.

/** Every .ts file under dir, tests and test helpers excluded. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return n.endsWith('.ts') && !n.endsWith('.test.ts') && n !== 'testing.ts' ? [p] : [];
  });
}

/** API group of each client-node API class the operator may use. A new class fails the test until added here. */
const API_CLASS_GROUP: Record<string, string> = {
  CoreV1Api: '',
  CoordinationV1Api: 'coordination.k8s.io',
  AuthenticationV1Api: 'authentication.k8s.io',
  AuthorizationV1Api: 'authorization.k8s.io',
  CustomObjectsApi: GROUP,
  NetworkingV1Api: 'networking.k8s.io',
};
/** "group|resource" a CustomObjectsApi call reaches, by the constant it passes as `plural`. */
const CUSTOM_PLURALS: Record<string, string[]> = {
  PLURAL: [`${GROUP}|${PLURAL}`],
  POD_GROUPS: Object.values(POD_GROUP_APIS).map((a) => `${a.group}|${POD_GROUPS}`),
};
const METHOD_VERB: Record<string, string> = {
  create: 'create', delete: 'delete', list: 'list', read: 'get', replace: 'update', patch: 'patch',
};

/** "group|resource|verb" for every apiserver call in operator/ (client-node API methods, informers, ownerRefs). */
function operatorPermissions(): Set<string> {
  const perms = new Set<string>();
  const unknown: string[] = [];
  for (const file of sources(join(ROOT, 'operator'))) {
    const text = readFileSync(file, 'utf8');
    const where = relative(ROOT, file);
    const clientImport = /import\s*\{([^}]*)\}\s*from\s*'@kubernetes\/client-node'/.exec(text)?.[1] ?? '';
    const classes = clientImport.split(',').map((s) => s.trim()).filter((s) => /^[A-Z]\w*Api$/.test(s));
    for (const c of classes) if (!(c in API_CLASS_GROUP)) unknown.push(`${where}: API class ${c} (add its group)`);
    for (const at of text.matchAll(/\.([a-z]+[A-Z]\w*)\(/g)) {
      const method = at[1];
      const owners = classes.filter((c) => typeof (k8s as any)[c]?.prototype?.[method!] === 'function');
      if (owners.length === 0) continue;
      const m = /^(create|delete|list|read|replace|patch)(\w+)$/.exec(method!);
      if (m === null || METHOD_VERB[m[1]!] === undefined) {
        unknown.push(`${where}: ${method} (not a create/delete/list/read/replace/patch call)`);
        continue;
      }
      let kind = m[2]!.replace(/^(Namespaced|Cluster)/, '').replace(/ForAllNamespaces$/, '');
      let sub = '';
      if (kind.endsWith('Status') && kind !== 'Status') {
        sub = '/status';
        kind = kind.slice(0, -'Status'.length);
      }
      const owner = owners[0]!;
      if (owner === 'CustomObjectsApi') {
        // Custom resources: the group and resource come from the call's `plural:` (ours, or the schedulers' pod groups).
        const call = text.slice(at.index!, text.indexOf('})', at.index!));
        const plural = /plural:\s*(\w+)/.exec(call)?.[1];
        const targets = CUSTOM_PLURALS[plural ?? ''];
        if (targets === undefined) unknown.push(`${where}: ${method} with plural ${plural} (add it to CUSTOM_PLURALS)`);
        for (const t of targets ?? []) perms.add(`${t}${sub}|${METHOD_VERB[m[1]!]}`);
        continue;
      }
      const resource = `${kind.toLowerCase().replace(/y$/, 'ie')}s`;
      perms.add(`${API_CLASS_GROUP[owner]}|${resource}${sub}|${METHOD_VERB[m[1]!]}`);
    }
    // Informers: startInformer(kc, <x>Path(ns), ...) lists and watches the path's resource.
    for (const [, fn] of text.matchAll(/startInformer\(\s*[\w.]+\s*,\s*(\w+)\(/g)) {
      const pathFn = (informers as unknown as Record<string, unknown>)[fn!];
      assert.equal(typeof pathFn, 'function', `${where}: informer path function ${fn} is exported by informers.ts`);
      const path = (pathFn as (ns?: string) => string)(undefined);
      const p = /^\/api\/v1\/(\w+)$/.exec(path) ?? /^\/apis\/([^/]+)\/[^/]+\/(\w+)$/.exec(path);
      assert.ok(p, `informer path ${path}`);
      const [group, resource] = p.length === 2 ? ['', p[1]!] : [p[1]!, p[2]!];
      perms.add(`${group}|${resource}|list`);
      perms.add(`${group}|${resource}|watch`);
    }
  }
  assert.deepEqual(unknown, [], 'every apiserver call of the operator maps to an RBAC rule');
  // Pods and services carry ownerReferences with blockOwnerDeletion: where OwnerReferencesPermissionEnforcement
  // is on, setting that needs update on the owner's finalizers subresource.
  const ref = ownerReference({ metadata: { name: 'x', namespace: 'y', uid: 'u' } } as unknown as SimCLRJob);
  if (ref.blockOwnerDeletion === true) perms.add(`${GROUP}|${PLURAL}/finalizers|update`);
  return perms;
}

function expand(rules: Rule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) {
    assert.equal(r.nonResourceURLs, undefined, 'the operator calls no non-resource URL');
    for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs) {
      assert.notEqual(v, '*', 'no wildcard verbs');
      assert.notEqual(res, '*', 'no wildcard resources');
      out.add(`${g}|${res}|${v}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

describe('chart without a cluster', () => {
  test('helm lint --strict passes', async () => {
    const { stdout } = await helm(['lint', CHART, '--strict']);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('the CRD in the chart is crds/ byte for byte', () => {
    const ours = readdirSync(join(ROOT, 'crds')).filter((n) => n.endsWith('.yaml')).sort();
    const chart = readdirSync(join(CHART, 'crds')).sort();
    assert.deepEqual(chart, ours, 'charts/simclr-operator/crds holds the same files as crds/');
    for (const n of ours) {
      assert.equal(readFileSync(join(CHART, 'crds', n), 'utf8'), readFileSync(join(ROOT, 'crds', n), 'utf8'),
        `charts/simclr-operator/crds/${n} differs from crds/${n}: cp crds/${n} charts/simclr-operator/crds/`);
    }
  });

  test('wrong values fail at template time with a message naming the field', async () => {
    const rejects = async (args: string[], message: RegExp): Promise<void> => {
      await assert.rejects(template(...args), (err: Error) => {
        assert.match(err.message, message);
        return true;
      });
    };
    await rejects(['--set', 'replicaCount=two'], /replicaCount.*got string, want integer/);
    await rejects(['--set', 'replicaCount=0'], /replicaCount.*minimum/);
    await rejects(['--set', 'operator.auth=basic'], /operator\/auth.*(kubernetes|none)/);
    await rejects(['--set', 'image.pullPolicy=Sometimes'], /image\/pullPolicy/);
    await rejects(['--set', 'operator.workers=100'], /operator\/workers.*maximum/);
    await rejects(['--set', 'replicaz=3'], /additional properties 'replicaz' not allowed/);
    await rejects(['--set', 'operator.leaderElect=false'], /replicaCount > 1 needs operator.leaderElect/);
    await rejects(['--set', 'operator.renewDeadlineSeconds=20'], /renewDeadlineSeconds must be below/);
  });

  test('the Deployment is hardened, probed, and its flags are accepted by the operator', async () => {
    const objs = await template();
    const dep = one(objs, 'Deployment');
    assert.equal(dep.spec.replicas, 2);
    const pod = dep.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.serviceAccountName, one(objs, 'ServiceAccount').metadata.name);
    const [c] = pod.containers;
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.valueFrom ? 'from-field' : e.value]));
    assert.deepEqual([env.POD_NAMESPACE, env.POD_NAME], ['from-field', 'from-field']);
    // The rendered flags go through the operator's own parser (as if the kubelet had filled in the env).
    const config = loadConfig(c.args, { POD_NAMESPACE: 'simclr-system', POD_NAME: 'simclr-abc' });
    assert.equal(config.leaderElect, true);
    assert.equal(config.leaseNamespace, 'simclr-system');
    assert.equal(config.identity, 'simclr-abc');
    assert.equal(config.auth, 'kubernetes');
    assert.equal(Number(config.listen.split(':').pop()), c.ports[0].containerPort);
    const svc = one(objs, 'Service');
    assert.equal(svc.spec.ports[0].targetPort, c.ports[0].name);
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);

    const watching = one(await template('--set', 'operator.watchNamespace=ml', '--set', 'operator.auth=none'), 'Deployment');
    const cfg2 = loadConfig(watching.spec.template.spec.containers[0].args, { POD_NAMESPACE: 'x', POD_NAME: 'y' });
    assert.equal(cfg2.namespace, 'ml');
    assert.equal(cfg2.auth, 'none');
  });

  test('volume kinds: the admission policy refuses every kind but the safe ones and jobs.extraVolumeKinds; the operator ' +
    'gets the same list', async () => {
    const policy = one(await template(), 'ValidatingAdmissionPolicy');
    const text = JSON.stringify(policy.spec.validations);
    // The chart's list of node-reaching kinds is the schema's (an addition to one side fails here).
    for (const kind of ADMIN_VOLUME_SOURCE_KINDS) assert.ok(text.includes(`volume.${kind})`), `refuses ${kind} by default`);
    assert.equal((text.match(/has\(object\.spec\.data\.volume\.\w+\)/g) ?? []).length, ADMIN_VOLUME_SOURCE_KINDS.length);
    assert.equal(loadConfig(one(await template(), 'Deployment').spec.template.spec.containers[0].args, {}).extraVolumeKinds
      .length, 0);
    const allowed = await template('--set', 'jobs.extraVolumeKinds={hostPath,gitRepo}');
    const allowedText = JSON.stringify(one(allowed, 'ValidatingAdmissionPolicy').spec.validations);
    assert.ok(!allowedText.includes('volume.hostPath)') && !allowedText.includes('volume.gitRepo)'));
    assert.ok(allowedText.includes('volume.cephfs)'));
    assert.deepEqual(loadConfig(one(allowed, 'Deployment').spec.template.spec.containers[0].args, {}).extraVolumeKinds,
      ['hostPath', 'gitRepo']);
    assert.equal((await template('--set', 'jobs.admissionPolicy=false')).filter((o) => o.kind.startsWith('Validating')).length, 0);
    await assert.rejects(template('--set', 'jobs.extraVolumeKinds={hostpath}'), /extraVolumeKinds/);
  });

  test('TLS by default: a self-signed Secret for the service\'s names, mounted, passed as flags, probed over HTTPS', async () => {
    const objs = await template();
    const secret = one(objs, 'Secret', `${FULLNAME}-tls`);
    assert.equal(secret.type, 'kubernetes.io/tls');
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
    assert.ok(cert.checkHost(`${FULLNAME}.simclr-system.svc`), cert.subjectAltName);
    const c = one(objs, 'Deployment').spec.template.spec.containers[0];
    assert.ok(c.args.includes('--tls-cert-file=/etc/simclr-operator/tls/tls.crt'));
    assert.ok(c.args.includes('--tls-key-file=/etc/simclr-operator/tls/tls.key'));
    assert.equal(c.livenessProbe.httpGet.scheme, 'HTTPS');
    assert.equal(c.readinessProbe.httpGet.scheme, 'HTTPS');
    assert.ok(c.volumeMounts.some((m: { name: string; mountPath: string }) => m.name === 'tls'));
    // cert-manager when an issuer is given; an existing Secret when named; plain HTTP only when asked for.
    const cm = await template('--set', 'tls.certManager.issuerRef.name=ca', '--set', 'tls.certManager.issuerRef.kind=ClusterIssuer');
    assert.equal(one(cm, 'Certificate').spec.secretName, `${FULLNAME}-tls`);
    assert.equal(cm.filter((o) => o.kind === 'Secret').length, 0);
    const own = await template('--set', 'tls.secretName=mine');
    assert.equal(own.filter((o) => o.kind === 'Secret' || o.kind === 'Certificate').length, 0);
    const mounted = one(own, 'Deployment').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'tls');
    assert.equal(mounted.secret.secretName, 'mine');
    const audience = one(await template('--set', 'operator.tokenAudience=simclr-operator'), 'Deployment');
    assert.ok(audience.spec.template.spec.containers[0].args.includes('--token-audience=simclr-operator'));
    const plain = one(await template('--set', 'tls.enabled=false'), 'Deployment').spec.template.spec.containers[0];
    assert.ok(!plain.args.some((a: string) => a.startsWith('--tls')));
    assert.equal(plain.livenessProbe.httpGet.scheme, 'HTTP');
  });

  test('the ServiceMonitor is off by default and scrapes /metrics on the http port when on', async () => {
    assert.equal((await template()).filter((o) => o.kind === 'ServiceMonitor').length, 0);
    const sm = one(await template('--set', 'serviceMonitor.enabled=true'), 'ServiceMonitor');
    assert.equal(sm.spec.endpoints[0].port, 'http');
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
  });

  test('the ClusterRole and the Lease Role grant exactly what the operator calls', async () => {
    const objs = await template();
    const cluster = expand(one(objs, 'ClusterRole', FULLNAME).rules);
    const role = expand(one(objs, 'Role').rules);
    const needed = operatorPermissions();
    // Sanity: the scan found the calls the operator is known to make.
    for (const p of ['|pods|create', '|pods|watch', `${GROUP}|${PLURAL}/status|update`, 'coordination.k8s.io|leases|update',
      'authorization.k8s.io|subjectaccessreviews|create', '|events|list']) assert.ok(needed.has(p), `scan found ${p}`);
    const leases = [...needed].filter((p) => p.startsWith('coordination.k8s.io|leases|'));
    assert.deepEqual([...role].sort(), leases.sort(), 'the namespaced Role holds the Lease verbs, nothing else');
    assert.deepEqual([...cluster].sort(), [...needed].filter((p) => !leases.includes(p)).sort(),
      'ClusterRole rules == the operator\'s calls (other than the Lease)');
    const binding = one(objs, 'ClusterRoleBinding');
    assert.equal(binding.roleRef.name, FULLNAME);
    assert.equal(binding.subjects[0].name, one(objs, 'ServiceAccount').metadata.name);

    const noAuth = expand(one(await template('--set', 'operator.auth=none'), 'ClusterRole', FULLNAME).rules);
    assert.ok(![...noAuth].some((p) => /tokenreviews|subjectaccessreviews/.test(p)), 'auth=none: no review rights');
  });

  test('watching one namespace: the job rights are a Role there; only the REST auth reviews are cluster-wide', async () => {
    const objs = await template('--set', 'operator.watchNamespace=ml');
    const needed = operatorPermissions();
    const leases = [...needed].filter((p) => p.startsWith('coordination.k8s.io|leases|'));
    const reviews = [...needed].filter((p) => /tokenreviews|subjectaccessreviews/.test(p));
    const jobRole = objs.filter((o) => o.kind === 'Role' && o.metadata.namespace === 'ml');
    assert.equal(jobRole.length, 1, 'one Role in the watched namespace');
    assert.deepEqual([...expand(jobRole[0]!.rules)].sort(),
      [...needed].filter((p) => !leases.includes(p) && !reviews.includes(p)).sort(), 'the Role holds the job rights');
    const binding = objs.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'ml');
    assert.equal(binding?.roleRef.kind, 'Role');
    assert.equal(binding?.subjects[0].namespace, 'simclr-system');
    assert.deepEqual([...expand(one(objs, 'ClusterRole', FULLNAME).rules)].sort(), reviews.sort());
    const none = await template('--set', 'operator.watchNamespace=ml', '--set', 'operator.auth=none');
    assert.equal(none.filter((o) => o.kind === 'ClusterRoleBinding').length, 0, 'auth=none: nothing cluster-wide');
  });

  test('the trainer image runs `train` with the args of the pods the operator builds', () => {
    const final = (file: string): { entrypoint?: string[]; cmd?: string[]; user?: string } => {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
      const stage = text.split(/^FROM\s/m).pop()!;
      const json = (kw: string): string[] | undefined => {
        const all = [...stage.matchAll(new RegExp(`^${kw}\\s+(\\[.*\\])\\s*$`, 'gm'))];
        return all.length === 0 ? undefined : (JSON.parse(all.at(-1)![1]!) as string[]);
      };
      return { entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), user: /^USER\s+(\S+)/m.exec(stage)?.[1] };
    };
    const trainer = final('trainer/Dockerfile');
    const job = parseSimCLRJob({
      apiVersion: `${GROUP}/v1alpha1`, kind: 'SimCLRJob',
      metadata: { name: 'img', namespace: 'ns', uid: 'u1' },
      spec: { image: 'simclr-trainer:test', replicas: 2, training: { epochs: 3, warmup: 1, batchSize: 64 } },
    });
    for (const pod of desiredPods(job, 0)) {
      const c = pod.spec!.containers[0]!;
      // Kubernetes: command replaces ENTRYPOINT (and drops CMD); args replace CMD.
      const argv = c.command !== undefined && c.command.length > 0
        ? [...c.command, ...(c.args ?? [])]
        : [...(trainer.entrypoint ?? []), ...(c.args !== undefined && c.args.length > 0 ? c.args : (trainer.cmd ?? []))];
      assert.deepEqual(argv.slice(0, 3), ['node', 'dist/trainer/cli/main.js', 'train'], `pod argv: ${argv.join(' ')}`);
      assert.ok(argv.slice(3).every((a) => a.startsWith('--')), 'then only the train flags');
      assert.ok(argv.includes('--epochs=3'));
    }
    assert.match(trainer.user ?? '', /^[1-9]\d*(:\d+)?$/, 'trainer runs as a numeric non-root user');
    const op = final('operator/Dockerfile');
    assert.deepEqual(op.entrypoint?.slice(-1), ['dist/operator/main.js']);
    assert.match(op.user ?? '', /^65532(:65532)?$/, 'operator image user matches the chart\'s runAsUser');
    assert.ok(existsSync(join(ROOT, 'operator', 'main.ts')) && existsSync(join(ROOT, 'trainer', 'cli', 'main.ts')));
  });
});

describe('operator image', () => {
  test('the operator loads only production dependencies, none of those its Dockerfile removes', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const dockerfile = readFileSync(join(ROOT, 'operator', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const removed = [...dockerfile.matchAll(/node_modules\/(@[\w.-]+\/[\w.-]+|[\w.-]+)/g)].map((m) => m[1]!);
    assert.ok(removed.includes('onnxruntime-node'));
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      assert.ok(existsSync(file), `${relative(ROOT, file)} exists`);
      const text = readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(/(?:from\s+|import\()\s*'([^']+)'/g)) {
        if (spec!.startsWith('.')) visit(join(dirname(file), spec!.replace(/\.js$/, '.ts')));
        else if (!spec!.startsWith('node:')) bare.add(spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!);
      }
    };
    visit(join(ROOT, 'operator', 'main.ts'));
    const outside = [...seen].map((f) => relative(ROOT, f)).filter((f) => !f.startsWith('operator/') && !f.startsWith('trainer/contract/'));
    assert.deepEqual(outside, [], 'the operator image copies only operator/ and trainer/contract/');
    for (const b of bare) {
      assert.ok(b in pkg.dependencies, `${b} is a production dependency`);
      assert.ok(!removed.includes(b), `${b} is imported by the operator but removed by operator/Dockerfile`);
    }
  });
});

describe('chart against a real kube-apiserver', () => {
  let cp: ControlPlane;
  const kubectl = (args: string[], input?: string) => cp.kubectl(args, { input, timeoutMs: 60_000 });

  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  test('helm template output (with the CRD) is accepted by kubectl apply --dry-run=server', async () => {
    await kubectl(['create', 'namespace', 'dry']);
    const { stdout } = await helm(['template', RELEASE, CHART, '--namespace', 'dry', '--include-crds'], cp.env);
    const { stdout: out } = await kubectl(['apply', '--dry-run=server', '-f', '-'], stdout);
    for (const o of docs(stdout)) {
      assert.match(out, new RegExp(`^${o.kind.toLowerCase()}(\\.[\\w.]+)?/${o.metadata.name} (created|configured)`, 'm'),
        `${o.kind} ${o.metadata.name} accepted:\n${out}`);
    }
  });

  test('helm install creates every object; the operator\'s service account gets exactly its rights', async () => {
    const ns = 'simclr-system';
    const install = await helm(['install', RELEASE, CHART, '--namespace', ns, '--create-namespace'], cp.env);
    assert.match(install.stdout, /NOTES:[\s\S]*kubectl get scj[\s\S]*port-forward svc\/simclr-simclr-operator 8080:8080/);
    const { stdout: manifest } = await helm(['get', 'manifest', RELEASE, '--namespace', ns], cp.env);
    const objs = docs(manifest);
    assert.deepEqual([...new Set(objs.map((o) => o.kind))].sort(),
      ['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount',
        'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    for (const o of objs) {
      const scoped = o.metadata.namespace !== undefined;
      const { stdout } = await kubectl(['get', `${o.kind}.${o.apiVersion.split('/').length === 2 ? o.apiVersion.split('/')[0] : ''}`
        .replace(/\.$/, ''), o.metadata.name, ...(scoped ? ['-n', o.metadata.namespace!] : []), '-o', 'name']);
      assert.match(stdout, new RegExp(`/${o.metadata.name}\\s*$`), `${o.kind} ${o.metadata.name} exists`);
    }
    await kubectl(['wait', '--for=condition=Established', `crd/${PLURAL}.${GROUP}`, '--timeout=60s']);

    const sa = `system:serviceaccount:${ns}:${FULLNAME}`;
    // A SubjectAccessReview, as the apiserver's authorizer answers it: no discovery, so rights on resources whose CRDs
    // this cluster lacks (the schedulers' podgroups) are checked too (kubectl auth can-i answered "no" for those).
    const can = async (verb: string, group: string, resource: string, namespace = 'default', subresource?: string): Promise<boolean> => {
      const r = await cp.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: sa, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: { verb, group, resource, namespace, ...(subresource ? { subresource } : {}) } },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return (r.body as { status: { allowed: boolean } }).status.allowed;
    };
    for (const p of operatorPermissions()) {
      const [group, resource, verb] = p.split('|') as [string, string, string];
      const [res, sub] = resource.split('/') as [string, string | undefined];
      assert.equal(await can(verb, group, res, group === 'coordination.k8s.io' ? ns : 'default', sub), true,
        `can ${verb} ${res}${group ? `.${group}` : ''}${sub ? `/${sub}` : ''}`);
    }
    assert.equal(await can('get', '', 'secrets'), false, 'no secrets');
    assert.equal(await can('update', '', 'pods'), false, 'no pod updates');
    assert.equal(await can('patch', GROUP, PLURAL), false, 'no spec writes');
    assert.equal(await can('update', 'coordination.k8s.io', 'leases', 'default'), false, 'leases only in its namespace');
  });

  test('watching one namespace, the operator runs on its own service account\'s token and the chart\'s Role alone',
    async () => {
      // A second release beside the cluster-wide one above, for one namespace; the CRD is applied on its own.
      const ns = 'simclr-ml-system';
      await kubectl(['apply', '--server-side', '-f', join(ROOT, 'crds', 'simclr.dev_simclrjobs.yaml')]);
      await kubectl(['wait', '--for=condition=Established', `crd/${PLURAL}.${GROUP}`, '--timeout=60s']);
      const release = 'scoped';
      const fullname = `${release}-simclr-operator`;
      await kubectl(['create', 'namespace', 'ml']);
      await helm(['install', release, CHART, '--namespace', ns, '--create-namespace', '--skip-crds',
        '--set', 'operator.watchNamespace=ml', '--set', 'operator.auth=none',
        // The volume policy is cluster-wide: the first release's holds (two would both have to allow a kind).
        '--set', 'jobs.admissionPolicy=false'], cp.env);
      const tr = await cp.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } });
      assert.equal(tr.status, 201, JSON.stringify(tr.body));
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'test', server: cp.server, caData: Buffer.from(cp.caPem).toString('base64') }],
        users: [{ name: 'operator', token: tr.body.status.token as string }],
        contexts: [{ name: 'operator', cluster: 'test', user: 'operator' }],
        currentContext: 'operator',
      });
      // The flags that say who the operator's pods are come from the release's own Deployment.
      const deployed = one(docs((await helm(['get', 'manifest', release, '--namespace', ns], cp.env)).stdout), 'Deployment');
      const podLabels = (deployed.spec.template.spec.containers[0].args as string[])
        .filter((a) => a.startsWith('--operator-pod-labels='));
      assert.equal(podLabels.length, 1);
      const config = loadConfig([...podLabels, '--namespace=ml', `--lease-namespace=${ns}`, `--lease-name=${fullname}`, '--auth=none',
        '--listen=127.0.0.1:0', '--lease-duration-seconds=3', '--renew-deadline-seconds=2', '--retry-period-seconds=0.3',
        '--log-level=fatal'], {});
      const { startOperator } = await import('../../operator/operator.js');
      const { pino } = await import('pino');
      const op = await startOperator(config, pino({ level: 'silent' }), kc);
      try {
        await kubectl(['apply', '-n', 'ml', '-f', '-'], JSON.stringify({ apiVersion: `${GROUP}/v1alpha1`, kind: 'SimCLRJob',
          metadata: { name: 'scoped' }, spec: { image: 'simclr-trainer:0.1.0', replicas: 2, training: { batchSize: 64 } } }));
        // Every call of a reconcile (list/watch, Service and pod creation, status, events) under the chart's Role.
        const status = await eventually('pods created and status written with the Role\'s rights', async () => {
          const pods = JSON.parse((await kubectl(['get', 'pods', '-n', 'ml', '-o', 'json'])).stdout).items as Obj[];
          const job = JSON.parse((await kubectl(['get', 'scj', 'scoped', '-n', 'ml', '-o', 'json'])).stdout);
          return pods.length === 2 && job.status?.conditions?.some((c: { type: string }) => c.type === 'Created')
            ? job.status : undefined;
        }, 60_000, 300);
        assert.equal(status.restartCount, 0);
        const events = JSON.parse((await kubectl(['get', 'events', '-n', 'ml', '-o', 'json'])).stdout).items as Obj[];
        assert.ok(events.some((e) => e.reason === 'PodsCreated'), 'events written');
        const np = JSON.parse((await kubectl(['get', 'networkpolicy', 'scoped', '-n', 'ml', '-o', 'json'])).stdout);
        // The chart's flags name the operator's own pods as the one peer of the progress port.
        assert.deepEqual(np.spec.ingress[1].from[0].podSelector.matchLabels,
          { 'app.kubernetes.io/name': 'simclr-operator', 'app.kubernetes.io/instance': release });
      } finally {
        await op.stop();
      }
      // `kubectl auth can-i` prints yes or no (and exits 1 on no).
      const canI = (namespace: string): Promise<string> => new Promise((resolve) => {
        execFile(join(cp.binDir, 'kubectl'), ['auth', 'can-i', 'create', 'pods', '-n', namespace,
          '--as', `system:serviceaccount:${ns}:${fullname}`], { env: cp.env, timeout: 30_000 },
        (_err, stdout) => resolve(stdout.trim()));
      });
      assert.equal(await canI('ml'), 'yes');
      assert.equal(await canI('default'), 'no', 'no rights outside the watched namespace');
    });

  test('the installed admission policy refuses a hostPath job naming the field (data, checkpoint, extra volumes); allowed once jobs.extraVolumeKinds lists it',
    async () => {
      await kubectl(['create', 'namespace', 'volumes']);
      const job = (name: string, volume: object): string => JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`,
        kind: 'SimCLRJob', metadata: { name, namespace: 'volumes' }, spec: { image: 'simclr-trainer:0.1.0',
          training: { batchSize: 64 }, checkpoint: { volume } } });
      const refusal = await eventually('the policy in force', async () => {
        try {
          await kubectl(['apply', '--dry-run=server', '-f', '-'], job('host', { hostPath: { path: '/etc' } }));
          return undefined;
        } catch (err) {
          return String((err as { stderr?: string }).stderr ?? err);
        }
      }, 30_000, 500);
      assert.match(refusal, /spec\.checkpoint\.volume: this volume kind is not allowed in this cluster \(allowed: persistentVolumeClaim, emptyDir, configMap, secret, nfs, csi;.*jobs\.extraVolumeKinds/s);
      await kubectl(['apply', '--dry-run=server', '-f', '-'], job('claim', { persistentVolumeClaim: { claimName: 'c' } }));
      await helm(['upgrade', RELEASE, CHART, '--namespace', 'simclr-system', '--reuse-values',
        '--set', 'jobs.extraVolumeKinds={hostPath}'], cp.env);
      await eventually('hostPath admitted', async () =>
        kubectl(['apply', '--dry-run=server', '-f', '-'], job('host', { hostPath: { path: '/data' } }))
          .then(() => true, () => undefined), 30_000, 500);
      await assert.rejects(kubectl(['apply', '--dry-run=server', '-f', '-'], job('git', { gitRepo: { repository: 'x' } })),
        /not allowed in this cluster/);
      // Extra volumes (spec.volumes) by the same list.
      const withExtra = (name: string, volume: object): string => JSON.stringify({ ...JSON.parse(job(name, { emptyDir: {} })),
        spec: { ...JSON.parse(job(name, { emptyDir: {} })).spec, volumes: [{ name: 'extra', mountPath: '/cache', volume }] } });
      await kubectl(['apply', '--dry-run=server', '-f', '-'], withExtra('extra-host', { hostPath: { path: '/var/cache' } }));
      await assert.rejects(kubectl(['apply', '--dry-run=server', '-f', '-'], withExtra('extra-git', { gitRepo: { repository: 'x' } })),
        /spec\.volumes: this volume kind is not allowed in this cluster/);
    });

  test('examples/simclrjob.yaml is accepted by the apiserver and the operator can build its pods', async () => {
    await kubectl(['create', 'namespace', 'examples']);
    const example = readFileSync(join(ROOT, 'examples', 'simclrjob.yaml'), 'utf8');
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-n', 'examples', '-f', '-', '-o', 'json'], example);
    const parsed = JSON.parse(stdout) as { kind: string; items?: Obj[] } & Obj;
    const items = parsed.kind === 'List' ? parsed.items! : [parsed];
    const stored = items.find((o) => o.kind === 'SimCLRJob');
    assert.ok(stored, 'the example holds a SimCLRJob');
    const job = parseSimCLRJob({ ...stored, metadata: { ...stored.metadata, uid: stored.metadata.uid ?? 'dry-run' } });
    assert.equal(job.spec.replicas, 2);
    assert.equal(job.spec.training.dataset, 'fashion-mnist');
    const pods = desiredPods(job, 0);
    assert.equal(pods.length, 2);
    assert.ok(pods[0]!.spec!.containers[0]!.env!.some((e) => e.name === 'WORLD_SIZE' && e.value === '2'));
  });
});
