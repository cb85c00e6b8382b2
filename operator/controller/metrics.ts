// Prometheus metrics of the operator, in their own registry (served by server/ at /metrics).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES } from '../api/schema.js';

export interface MetricSources {
  /** Phase of every job in the cache ("" when it has no status yet). */
  phases(): string[];
  queueDepth(): number;
  isLeader(): boolean;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileDuration = new Histogram({
    name: 'simclr_reconcile_duration_seconds',
    help: 'Time of one reconcile, by result (success, conflict, error).',
    labelNames: ['result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly gangRestarts = new Counter({
    name: 'simclr_gang_restarts_total',
    help: 'Gang restarts decided (a rank failed and the whole gang was recreated).',
    registers: [this.registry],
  });
  readonly podsCreated = new Counter({
    name: 'simclr_pods_created_total',
    help: 'Pods created by the operator.',
    registers: [this.registry],
  });

  constructor(private sources?: MetricSources, defaults = false) {
    const self = this;
    new Gauge({
      name: 'simclr_jobs',
      help: 'SimCLRJobs by phase.',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        const counts = new Map<string, number>([...PHASES, 'Unknown'].map((p) => [p, 0]));
        for (const p of self.sources?.phases() ?? []) {
          const key = counts.has(p) ? p : 'Unknown';
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'simclr_workqueue_depth',
      help: 'Jobs waiting in the work queue.',
      registers: [this.registry],
      collect() {
        this.set(self.sources?.queueDepth() ?? 0);
      },
    });
    new Gauge({
      name: 'simclr_leader',
      help: '1 when this operator replica holds the leader lease.',
      registers: [this.registry],
      collect() {
        this.set(self.sources?.isLeader() === true ? 1 : 0);
      },
    });
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  setSources(sources: MetricSources): void {
    this.sources = sources;
  }
}
