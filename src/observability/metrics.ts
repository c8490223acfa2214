import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueStats } from '../queue/job-store.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../domain/states.js';

/** Where the queue gauges come from at scrape time (the job store's stats()). */
export type QueueStatsSource = () => Promise<QueueStats>;

// Buckets in seconds. Queue wait: an idle system starts a run in milliseconds, a backlog in
// minutes. Run time: from a trivial print to the largest configurable wall-time limit.
const QUEUE_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const RUN_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The process's Prometheus metrics, in a registry of its own (never prom-client's global one, so
 * two apps in one process, as in tests, do not collide).
 *
 * Queue depth and executors are read from the job store at scrape time, so they show every
 * process sharing the database, not only this one. Counters and histograms count what this
 * process observed (its API requests and its embedded executors).
 */
export class Metrics {
  readonly registry = new Registry();
  private queueStats: QueueStatsSource | null = null;

  private readonly queueDepth = new Gauge({
    name: 'codexec_queue_depth',
    help: 'Executions in the queue database by status (read from the database at scrape time)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly executions = new Counter({
    name: 'codexec_executions_total',
    help: 'Finished executions by outcome: completed, timeout, or the failure_reason of a FAILED one',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'codexec_queue_wait_seconds',
    help: 'Time from QUEUED to RUNNING (the last attempt) of finished executions',
    buckets: QUEUE_WAIT_BUCKETS,
    registers: [this.registry],
  });
  private readonly runTime = new Histogram({
    name: 'codexec_run_seconds',
    help: 'Time from RUNNING to finished of finished executions (sandbox setup, compile and run)',
    buckets: RUN_BUCKETS,
    registers: [this.registry],
  });
  private readonly executors = new Gauge({
    name: 'codexec_executors',
    help: 'Executor slots alive (recent heartbeat), busy or idle',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'codexec_retries_total',
    help: 'Attempts that ended in a transient failure and were scheduled again',
    registers: [this.registry],
  });
  private readonly rescues = new Counter({
    name: 'codexec_rescues_total',
    help: 'Executions taken back from an executor whose lease expired',
    registers: [this.registry],
  });
  private readonly submitted = new Counter({
    name: 'codexec_runs_submitted_total',
    help: 'Runs accepted by the API (idempotent replays not counted)',
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: 'codexec_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  constructor(opts: { queueStats?: QueueStatsSource; defaultMetrics?: boolean } = {}) {
    this.queueStats = opts.queueStats ?? null;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    for (const status of EXECUTION_STATUSES) this.queueDepth.set({ status }, 0);
    this.executors.set({ state: 'busy' }, 0);
    this.executors.set({ state: 'idle' }, 0);
  }

  /** Reads queue depth and executors from this source on every scrape (buildApp binds the job store). */
  bindQueueStats(source: QueueStatsSource): void {
    this.queueStats = source;
  }

  /** An execution reached a terminal state. */
  observeFinished(status: ExecutionStatus, failureReason: string | null, queueWaitMs: number | null, runMs: number | null): void {
    this.executions.inc({ outcome: status === 'FAILED' ? (failureReason ?? 'failed') : status.toLowerCase() });
    if (queueWaitMs !== null && queueWaitMs >= 0) this.queueWait.observe(queueWaitMs / 1000);
    if (runMs !== null && runMs >= 0) this.runTime.observe(runMs / 1000);
  }

  retry(): void {
    this.retries.inc();
  }

  rescue(n = 1): void {
    if (n > 0) this.rescues.inc(n);
  }

  /**
   * Executor slots busy and idle. When a queue stats source is bound, every scrape replaces these
   * with the figures of all executors registered in the database; without one (a process that
   * does not read the queue), these values are what is exported.
   */
  setExecutors(busy: number, idle: number): void {
    this.executors.set({ state: 'busy' }, busy);
    this.executors.set({ state: 'idle' }, idle);
  }

  runSubmitted(): void {
    this.submitted.inc();
  }

  httpRequest(route: string, method: string, status: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
  }

  /** Refreshes the gauges read from the database, then renders the Prometheus text format. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (this.queueStats) {
      const stats = await this.queueStats();
      for (const status of EXECUTION_STATUSES) this.queueDepth.set({ status }, stats.counts[status] ?? 0);
      let busy = 0;
      let slots = 0;
      for (const e of stats.executors) {
        busy += e.busy;
        slots += e.slots;
      }
      this.setExecutors(busy, Math.max(0, slots - busy));
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
