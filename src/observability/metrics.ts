import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueStats } from '../queue/job-store.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../domain/states.js';

/** Where the queue gauges come from at scrape time (the job store's stats()). */
export type QueueStatsSource = () => Promise<QueueStats>;

// Buckets in seconds. Queue wait: an idle system starts a run in milliseconds, a backlog in
// minutes. Run time: from a trivial print to the largest configurable wall-time limit.
const QUEUE_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
export const EVENT_LOOP_SAMPLE_MS = 100;
const RUN_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
// Per-key series: a key id becomes a label value only once it authenticated (ids are made by
// `codexec keys create`, never by a client), and at most this many ids get series of their own
// in one process; any further key counts under OTHER_KEYS. Bounded whatever clients send.
export const MAX_KEY_SERIES = 1000;
export const OTHER_KEYS = '_other';

/**
 * The process's Prometheus metrics, in a registry of its own (never prom-client's global one, so
 * two apps in one process, as in tests, do not collide).
 *
 * Two kinds, told apart by the `scope` label where both exist:
 * - global (`scope="global"`): queue depth and executor slots, read from the job database at
 *   scrape time, so they show every process sharing the database and read the same on every API
 *   node: aggregate them across nodes with max(), never sum();
 * - this process: counters and histograms of what this process observed (its API requests, its
 *   executors' executions) and its own executor slots (`codexec_executors{scope="process"}`). An
 *   API-only node runs nothing, so its execution counters stay at zero: the workers' counts are
 *   on their own /metrics (CODEXEC_WORKER_METRICS_PORT); sum() them across all targets.
 */
export class Metrics {
  readonly registry = new Registry();
  private queueStats: QueueStatsSource | null = null;

  private readonly queueDepth = new Gauge({
    name: 'codexec_queue_depth',
    help: 'Executions in the queue database by status; global: read from the database at scrape time, the same on every node (max(), not sum(), across nodes)',
    labelNames: ['status', 'scope'] as const,
    registers: [this.registry],
  });
  private readonly executions = new Counter({
    name: 'codexec_executions_total',
    help: 'Executions finished by this process\'s executors, by outcome: completed, timeout, or the failure_reason of a FAILED one',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'codexec_queue_wait_seconds',
    help: 'Time from QUEUED to RUNNING (the last attempt) of executions finished by this process',
    buckets: QUEUE_WAIT_BUCKETS,
    registers: [this.registry],
  });
  private readonly runTime = new Histogram({
    name: 'codexec_run_seconds',
    help: 'Time from RUNNING to finished of executions finished by this process (sandbox setup, compile and run)',
    buckets: RUN_BUCKETS,
    registers: [this.registry],
  });
  private readonly executors = new Gauge({
    name: 'codexec_executors',
    help: 'Executor slots, busy or idle; scope="global": of every executor with a recent heartbeat in the database (the same on every node), scope="process": of this process',
    labelNames: ['state', 'scope'] as const,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'codexec_retries_total',
    help: 'Attempts of this process\'s executors that ended in a transient failure and were scheduled again',
    registers: [this.registry],
  });
  private readonly rescues = new Counter({
    name: 'codexec_rescues_total',
    help: 'Executions this process\'s executors took back from an executor whose lease expired',
    registers: [this.registry],
  });
  private readonly submitted = new Counter({
    name: 'codexec_runs_submitted_total',
    help: 'Runs accepted by this API node (idempotent replays not counted)',
    registers: [this.registry],
  });
  private readonly keyRunsSubmitted = new Counter({
    name: 'codexec_key_runs_submitted_total',
    help: 'Runs accepted by the API per API key (CODEXEC_AUTH=keys), by key id (never the key)',
    labelNames: ['key_id'] as const,
    registers: [this.registry],
  });
  private readonly keyQuotaRefusals = new Counter({
    name: 'codexec_key_quota_refusals_total',
    help: 'Requests or runs refused because an API key used up a quota (429 quota_exceeded), by key id and quota',
    labelNames: ['key_id', 'quota'] as const,
    registers: [this.registry],
  });
  private readonly keySeries = new Set<string>();
  private readonly httpRequests = new Counter({
    name: 'codexec_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  constructor(opts: { queueStats?: QueueStatsSource; defaultMetrics?: boolean } = {}) {
    this.queueStats = opts.queueStats ?? null;
    // Event-loop delay sampled every 100 ms, not prom-client's default 10 ms: its timer alone cost
    // 8 ms of CPU per second in an idle process here (0.9 ms at 100 ms), a process-wide tax on
    // every node. The percentiles still come from 10 samples a second.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
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

  /** This process's executor slots, busy and idle (`scope="process"`). */
  setExecutors(busy: number, idle: number): void {
    this.executors.set({ state: 'busy', scope: 'process' }, busy);
    this.executors.set({ state: 'idle', scope: 'process' }, idle);
  }

  /** A run was accepted; `keyId`: the API key that submitted it, when there is one. */
  runSubmitted(keyId: string | null = null): void {
    this.submitted.inc();
    if (keyId !== null) this.keyRunsSubmitted.inc({ key_id: this.keyLabel(keyId) });
  }

  /** An API key's quota refused a request or a run (`quota`: details.quota of the 429). */
  keyQuotaRefused(keyId: string, quota: string): void {
    this.keyQuotaRefusals.inc({ key_id: this.keyLabel(keyId), quota });
  }

  private keyLabel(keyId: string): string {
    if (this.keySeries.has(keyId)) return keyId;
    if (this.keySeries.size >= MAX_KEY_SERIES) return OTHER_KEYS;
    this.keySeries.add(keyId);
    return keyId;
  }

  httpRequest(route: string, method: string, status: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
  }

  /** Refreshes the gauges read from the database (when a source is bound), then renders the Prometheus text format. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (this.queueStats) {
      const stats = await this.queueStats();
      for (const status of EXECUTION_STATUSES) this.queueDepth.set({ status, scope: 'global' }, stats.counts[status] ?? 0);
      let busy = 0;
      let slots = 0;
      for (const e of stats.executors) {
        busy += e.busy;
        slots += e.slots;
      }
      this.executors.set({ state: 'busy', scope: 'global' }, busy);
      this.executors.set({ state: 'idle', scope: 'global' }, Math.max(0, slots - busy));
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
