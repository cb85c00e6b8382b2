// The control loop: informers on SimCLRJobs and their pods, Services and NetworkPolicies feed a work queue of job
// keys; each key is reconciled by reading the caches, computing a Plan (reconcile/plan.ts) and applying it
// (reconcile/apply.ts).
// Watches run on every replica (the REST API reads the caches); workers run only while this replica leads.
import type {
  KubeConfig,
  KubernetesObject,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { PROGRESS_PATH } from '../../trainer/contract/index.js';
import { ObjectMeta, SimCLRJob, SimCLRJobStatus } from '../api/schema.js';
import { applyPlan, PodRefusedError, type ApplyResult, type JobClient } from '../reconcile/apply.js';
import { invalidSpecPlan } from '../reconcile/policy/invalid-spec.js';
import { jobKey, LABEL_JOB_NAME } from '../reconcile/names.js';
import { reconcilePlan } from '../reconcile/plan.js';
import { soonest } from '../reconcile/types.js';
import {
  jobLister,
  jobsPath,
  networkPoliciesPath,
  networkPolicyLister,
  podLister,
  podsPath,
  serviceLister,
  servicesPath,
  startInformer,
  type RunningInformer,
} from './informers.js';
import { apiMessage, isConflict } from './kube-errors.js';
import type { OperatorMetrics } from './metrics.js';
import { ProgressPoller, type Preview } from './progress.js';
import { WorkQueue } from './queue.js';

export interface ControllerOptions {
  /** Watch one namespace; undefined = all. */
  namespace?: string;
  workers: number;
  progressIntervalMs: number;
  progressTimeoutMs: number;
  /** The operator's pods, allowed to reach each job's progress port by the job's NetworkPolicy. */
  operatorPeer: V1NetworkPolicyPeer;
  /** Volume kinds the cluster admin allows beyond the safe ones. */
  extraVolumeKinds?: readonly string[];
}

/** Read access for the REST API. */
export interface JobView {
  listJobs(namespace?: string): KubernetesObject[];
  getJob(namespace: string, name: string): KubernetesObject | undefined;
  podsOf(namespace: string, name: string): V1Pod[];
  ready(): boolean;
  /** Rank 0's newest augmentation grids, read from rank 0 at most once per progress interval. */
  preview?(namespace: string, name: string): Promise<Preview | undefined>;
}

const keyOf = (o: KubernetesObject): string => jobKey(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
const ownerKeyOf = (o: KubernetesObject): string | undefined => {
  const name = o.metadata?.labels?.[LABEL_JOB_NAME];
  return name === undefined ? undefined : jobKey(o.metadata?.namespace ?? '', name);
};

export class Controller implements JobView {
  readonly queue = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 60_000 });
  readonly progress: ProgressPoller;
  private jobs?: RunningInformer<KubernetesObject>;
  private pods?: RunningInformer<V1Pod>;
  private services?: RunningInformer<V1Service>;
  private networkPolicies?: RunningInformer<V1NetworkPolicy>;
  private workers?: Promise<void>;
  private synced = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly client: JobClient,
    private readonly opts: ControllerOptions,
    private readonly log: Logger,
    private readonly metrics?: OperatorMetrics,
  ) {
    this.progress = new ProgressPoller(
      { intervalMs: opts.progressIntervalMs, timeoutMs: opts.progressTimeoutMs },
      (key) => this.queue.add(key),
      log,
    );
  }

  /** Starts the informers; resolves once each has listed. */
  async startWatching(): Promise<void> {
    const ns = this.opts.namespace;
    const enqueue = (key: string | undefined): void => {
      if (key !== undefined) this.queue.add(key);
    };
    this.pods = await startInformer(this.kc, podsPath(ns), podLister(this.kc, ns),
      { onChange: (o) => enqueue(ownerKeyOf(o)) }, this.log, LABEL_JOB_NAME);
    this.services = await startInformer(this.kc, servicesPath(ns), serviceLister(this.kc, ns),
      { onChange: (o) => enqueue(ownerKeyOf(o)) }, this.log, LABEL_JOB_NAME);
    this.networkPolicies = await startInformer(this.kc, networkPoliciesPath(ns), networkPolicyLister(this.kc, ns),
      { onChange: (o) => enqueue(ownerKeyOf(o)) }, this.log, LABEL_JOB_NAME);
    this.jobs = await startInformer(this.kc, jobsPath(ns), jobLister(this.kc, ns),
      { onChange: (o) => enqueue(keyOf(o)) }, this.log);
    this.synced = true;
  }

  /** Starts reconciling (call when this replica becomes leader): every cached job is queued once. */
  startWorkers(): void {
    if (this.workers !== undefined) return;
    for (const job of this.jobs?.list() ?? []) this.queue.add(keyOf(job));
    this.workers = this.queue.run(this.opts.workers, (key) => this.handle(key));
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.workers;
    await Promise.all([this.jobs?.stop(), this.pods?.stop(), this.services?.stop(), this.networkPolicies?.stop()]);
  }

  ready(): boolean {
    return this.synced;
  }

  listJobs(namespace?: string): KubernetesObject[] {
    return this.jobs?.list(namespace) ?? [];
  }

  getJob(namespace: string, name: string): KubernetesObject | undefined {
    return this.jobs?.get(name, namespace);
  }

  podsOf(namespace: string, name: string): V1Pod[] {
    return (this.pods?.list(namespace) ?? []).filter((p) => p.metadata?.labels?.[LABEL_JOB_NAME] === name);
  }

  /**
   * The leader reads rank 0 as it reconciles; any other replica (the chart's Service balances the REST API over all of
   * them) reads it here, when asked, so every replica serves the grids.
   */
  async preview(namespace: string, name: string): Promise<Preview | undefined> {
    const key = jobKey(namespace, name);
    const job = this.getJob(namespace, name) as SimCLRJob | undefined;
    const url = job === undefined ? undefined : rank0ProgressUrl(job, this.podsOf(namespace, name));
    if (url !== undefined) await this.progress.maybePoll(key, url);
    return this.progress.preview(key);
  }

  private async handle(key: string): Promise<void> {
    const started = process.hrtime.bigint();
    let result = 'success';
    try {
      const requeueAfter = await this.reconcile(key);
      this.queue.forget(key);
      if (requeueAfter !== undefined) this.queue.addAfter(key, requeueAfter);
    } catch (err) {
      const delay = this.queue.addRateLimited(key);
      if (isConflict(err)) {
        result = 'conflict';
        this.log.debug({ job: key, delayMs: delay }, 'conflict; retrying');
      } else {
        result = 'error';
        this.log.error({ err, job: key, delayMs: delay, reason: apiMessage(err) }, 'reconcile failed; retrying');
      }
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics?.reconcileDuration.observe({ result }, seconds);
    }
  }

  /** One reconcile of one job; returns when to look again, if a timer is needed. */
  async reconcile(key: string): Promise<number | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    const raw = this.jobs?.get(name, namespace);
    if (raw === undefined) {
      this.progress.forget(key);
      return undefined; // deleted: owned objects go with it (garbage collector)
    }
    const job = await this.parse(key, raw);
    if (job === undefined) return undefined;
    const log = this.log.child({ job: name, namespace });
    const pods = this.podsOf(namespace, name);
    const plan = reconcilePlan({
      job,
      pods,
      serviceExists: this.services?.get(name, namespace) !== undefined,
      networkPolicyExists: this.networkPolicies?.get(name, namespace) !== undefined,
      operatorPeer: this.opts.operatorPeer,
      progress: this.progress.get(key),
      corruptCheckpoints: this.progress.corruptCheckpoints(key),
      extraVolumeKinds: this.opts.extraVolumeKinds,
      now: new Date(),
    });
    let res: ApplyResult;
    try {
      res = await applyPlan(job, plan, this.client, (err) => log.warn({ err }, 'event not recorded'));
    } catch (err) {
      if (!(err instanceof PodRefusedError)) throw err;
      // The spec asked for a pod this namespace will not run (Pod Security, an invalid affinity): fail it, once.
      log.warn({ problem: err.message }, 'pod refused; job failed');
      await applyPlan(job, invalidSpecPlan(job.status ?? {}, err.message, new Date()), this.client,
        (e) => log.warn({ err: e }, 'event not recorded'));
      return undefined;
    }
    if ((plan.status.restartCount ?? 0) > (job.status?.restartCount ?? 0)) this.metrics?.gangRestarts.inc();
    this.metrics?.podsCreated.inc(res.created);
    if (res.created + res.deleted > 0 || res.statusWritten) {
      log.info({ phase: plan.status.phase, created: res.created, deleted: res.deleted,
        restartCount: plan.status.restartCount }, 'reconciled');
    }
    return soonest(plan.requeueAfterMs, this.pollProgress(key, job, pods, plan.status.phase));
  }

  /**
   * Reads rank 0 while its pod runs, whatever the job's phase says meanwhile: the other ranks finish first (the
   * phase drops to Pending), and rank 0's last document, the final evaluation, comes after they are gone.
   */
  private pollProgress(key: string, job: SimCLRJob, pods: V1Pod[], phase: string | undefined): number | undefined {
    if (phase === 'Succeeded' || phase === 'Failed') return undefined;
    const url = rank0ProgressUrl(job, pods);
    if (url !== undefined) {
      void this.progress.maybePoll(key, url);
      return this.opts.progressIntervalMs;
    }
    return phase === 'Running' ? this.opts.progressIntervalMs : undefined;
  }

  /** The job as the operator reads it, or undefined after recording why it cannot be read (InvalidSpec). */
  private async parse(key: string, raw: KubernetesObject): Promise<SimCLRJob | undefined> {
    const parsed = SimCLRJob.safeParse(raw);
    if (parsed.success) return parsed.data;
    // Admitted by the apiserver, refused here (an object stored under an older CRD): fail it once, loudly.
    const problem = `spec is not valid: ${firstIssue(parsed.error)}`;
    const status = SimCLRJobStatus.safeParse((raw as { status?: unknown }).status ?? {});
    const current = status.success ? status.data : {};
    if (current.phase === 'Failed') return undefined;
    // Only metadata (name, namespace, uid, resourceVersion) and status are read when writing status and events.
    const job = { metadata: ObjectMeta.parse(raw.metadata), status: current } as unknown as SimCLRJob;
    this.log.warn({ job: job.metadata.name, namespace: job.metadata.namespace, problem }, 'invalid SimCLRJob');
    await applyPlan(job, invalidSpecPlan(current, problem, new Date()), this.client, (err) =>
      this.log.warn({ err, job: key }, 'event not recorded'));
    return undefined;
  }
}

/** One line for the first zod issue: `spec.training.widthMultiplier: Too small: expected number to be >=0.0625`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

/** Where rank 0 serves its progress document, while its pod runs. */
function rank0ProgressUrl(job: SimCLRJob, pods: readonly V1Pod[]): string | undefined {
  const rank0 = pods.find((p) => p.metadata?.name === `${job.metadata.name}-0`);
  const ip = rank0?.status?.podIP;
  if (rank0?.status?.phase !== 'Running' || ip === undefined) return undefined;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${job.spec.progressPort}${PROGRESS_PATH}`;
}
