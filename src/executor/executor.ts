import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { QueueUnavailableError } from '../domain/errors.js';
import type { ExecutionRecord, ExecutionResult } from '../domain/execution.js';
import type { ExecutionPlan } from '../domain/plan.js';
import { backoffMs } from '../queue/backoff.js';
import { coalescing } from '../queue/coalescing.js';
import type { JobStore, TerminalStatus } from '../queue/job-store.js';
import { runPlan } from './run-plan.js';
import { EarlyWatches } from '../live/early-watches.js';
import { LiveRecorder } from '../live/recorder.js';
import type { SandboxRunner } from './sandbox-port.js';

/** Lifecycle events, for metrics (the API process registers them). */
export interface ExecutorHooks {
  finished?(status: string, failureReason: string | null, queueWaitMs: number, runMs: number): void;
  retried?(): void;
  rescued?(n: number): void;
  busy?(busy: number, idle: number): void;
}

export interface ExecutorOptions {
  store: JobStore;
  sandbox: SandboxRunner;
  logger: Logger;
  slots: number;
  leaseMs: number;
  retryBaseMs: number;
  /** Warnings added to every result (e.g. running without isolation). */
  resultWarnings?: string[];
  hooks?: ExecutorHooks;
  heartbeatMs?: number;
  retentionMs?: number;
  /** Record what watched runs print, for GET /executions/{id}/events on any process (default true). */
  liveOutput?: boolean;
}

type StopReason = 'cancel' | 'shutdown' | 'lost';

interface Running {
  job: ExecutionRecord;
  abort: AbortController;
  done: Promise<void>;
  /** Until when our lease surely holds (the last successful renewal + the lease). */
  leaseUntil: number;
  /** Its live output, written while someone watches it. */
  live: LiveRecorder | null;
  /** The job claimed with this one's result (finishAndClaim), started in its slot when it ends. */
  next: ExecutionRecord | null;
}

// How often a result that could not be written (the database is away) is written again, while
// the lease is still ours: a short outage must not make a finished program run twice.
const RESULT_RETRY_MS = 250;

// Claims jobs into free slots as soon as the queue says one is available, runs each job's stored
// plan, renews its lease while it runs, stops it within moments of a cancel (the queue's "cancel"
// event, from any process or host), and records exactly one outcome. Transient failures (sandbox
// setup, internal errors) go back to the queue with backoff; the program's own failures are
// results, never retried.
export class Executor {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly running = new Map<string, Running>();
  private stopped = false;
  private readonly startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  private readonly earlyWatches = new EarlyWatches();

  constructor(private readonly o: ExecutorOptions) {}

  start(): void {
    this.stopped = false;
    const events = this.o.store.events;
    this.unsubscribe.push(
      events.onAvailable(() => this.fill()),
      events.onEvent((e) => {
        if (e.kind === 'cancel') this.stopJob(e.id, 'cancel');
        else if (e.kind === 'watch') this.watchJob(e.id);
      }),
      events.onResync(() => void this.checkCancels().then(() => this.checkWatches())),
    );
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch((err) => this.o.logger.error({ err }, 'executor housekeeping failed')), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.heartbeatMs ?? 2000, () => this.heartbeat());
    every(Math.max(500, Math.floor(this.o.leaseMs / 2)), () => this.rescue());
    if (this.o.retentionMs) every(3600_000, () => this.o.store.prune(Date.now() - this.o.retentionMs!));
    void this.heartbeat()
      .then(() => this.rescue())
      .catch((err) => this.o.logger.error({ err }, 'executor housekeeping failed'));
    this.fill();
  }

  get busy(): number {
    return this.running.size;
  }

  /** Claim until every slot is busy or the queue has nothing runnable. Re-entrant calls coalesce. */
  fill(): void {
    if (!this.stopped) this.claimLoop();
  }

  private readonly claimLoop = coalescing(
    async () => {
      while (!this.stopped && this.running.size < this.o.slots) {
        const job = await this.o.store.claim(this.id, this.o.leaseMs);
        if (!job) break;
        this.startJob(job);
        // The next claim waits for the next turn of the event loop: the job just started reaches
        // its fork server first. A claim is a synchronous statement; run at once, the other idle
        // slot's (which finds nothing when one run was queued) came between the claim and the
        // sandbox's request, 0.13-0.26 ms after an idle moment (bench/RESULTS.md, sixteenth session).
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    {
      onError: (err) => this.o.logger.error({ err }, 'claim failed'),
      after: () => this.o.hooks?.busy?.(this.running.size, this.o.slots - this.running.size),
    },
  );

  private stopJob(id: string, reason: StopReason): void {
    const r = this.running.get(id);
    if (r && !r.abort.signal.aborted) r.abort.abort(reason);
  }

  /** After missed events: any running job whose cancel was asked for meanwhile is stopped. */
  private async checkCancels(): Promise<void> {
    try {
      for (const id of await this.o.store.cancelRequested([...this.running.keys()])) this.stopJob(id, 'cancel');
    } catch (err) {
      this.o.logger.warn({ err }, 'could not check for canceled executions; the next resync tries again');
    }
  }

  /** Someone started watching job `id`: its run's output is written from now on (and what it printed so far). */
  private watchJob(id: string): void {
    const r = this.running.get(id);
    if (r) r.live?.watch();
    else this.earlyWatches.add(id);
  }

  /** After missed events: running jobs that someone watches meanwhile start recording. */
  private async checkWatches(): Promise<void> {
    const unwatched = [...this.running.values()].filter((r) => r.live).map((r) => r.job.id);
    try {
      for (const id of await this.o.store.output.watched(unwatched)) this.watchJob(id);
    } catch (err) {
      this.o.logger.warn({ err }, 'could not check for watched executions; the next resync tries again');
    }
  }

  private liveRecorder(job: ExecutionRecord, log: Logger): LiveRecorder | null {
    const early = this.earlyWatches.take(job.id);
    if (this.o.liveOutput === false || !job.plan) return null;
    return new LiveRecorder({
      log: this.o.store.output,
      executionId: job.id,
      attempt: job.attempt,
      owner: this.id,
      stdoutBytes: job.plan.run.limits.stdoutBytes,
      stderrBytes: job.plan.run.limits.stderrBytes,
      watched: early || (job.watchedUntil ?? 0) > Date.now(),
      onError: (err) => log.warn({ err }, 'could not record live output; watchers get the result when it is stored'),
    });
  }

  private startJob(job: ExecutionRecord): void {
    const log = this.o.logger.child({ execution_id: job.id, session_id: job.sessionId, executor_id: this.id, attempt: job.attempt });
    log.info({ status: 'RUNNING', queue_wait_ms: (job.startedAt ?? Date.now()) - job.queuedAt }, 'execution RUNNING');
    const entry: Running = { job, abort: new AbortController(), done: Promise.resolve(), leaseUntil: Date.now() + this.o.leaseMs, live: this.liveRecorder(job, log), next: null };
    const renew = setInterval(() => this.renew(entry, log), Math.max(250, Math.floor(this.o.leaseMs / 3)));
    renew.unref();
    // execute() records the outcome; if even that fails (the store stays unreachable past the
    // lease), the job stays RUNNING under our lease, which expires: a rescue runs it again
    // (attempt + 1), so it is delayed, never lost, and this process does not die of it.
    entry.done = this.execute(entry, log)
      .catch((err) => log.error({ err }, 'could not record the outcome: the job will be rescued when its lease expires'))
      .finally(() => clearInterval(renew))
      .then(() => {
        this.running.delete(job.id);
        const next = entry.next;
        entry.next = null;
        const handedOver = next ? this.takeOver(next) : undefined;
        // A turn later: the answers waiting for this result (long polls, the events' reads) go
        // first. The result's own statement claimed for this slot already; a claim now, at once,
        // came between the result's commit and its long-poll answer (~0.1 ms after an idle moment).
        setImmediate(() => this.fill());
        return handedOver;
      });
    this.running.set(job.id, entry);
  }

  /**
   * A job claimed with the previous one's result runs in the freed slot; if we are stopping, it is
   * handed back at once without spending its attempt (as stop() does), before stop() goes on.
   */
  private async takeOver(job: ExecutionRecord): Promise<void> {
    if (!this.stopped) {
      this.startJob(job);
      this.o.hooks?.busy?.(this.running.size, this.o.slots - this.running.size);
      return;
    }
    await this.o.store.release(job.id, this.id).catch((err) => this.o.logger.warn({ err, execution_id: job.id }, 'could not hand back a job claimed while stopping: it is rescued when its lease expires'));
  }

  private renew(entry: Running, log: Logger): void {
    const at = Date.now();
    void this.o.store.renewLease(entry.job.id, this.id, this.o.leaseMs, at).then(
      (ok) => {
        if (ok) entry.leaseUntil = at + this.o.leaseMs;
        else if (!entry.abort.signal.aborted) {
          log.warn('lease lost: another executor owns this execution now; stopping it here');
          entry.abort.abort('lost' satisfies StopReason);
        }
      },
      // The store is unreachable (a database restart): the run goes on and the next renewal
      // tries again; if the lease expires meanwhile, whoever rescues the job owns it.
      (err) => log.warn({ err }, 'lease renewal failed; trying again at the next interval'),
    );
  }

  private async execute(entry: Running, log: Logger): Promise<void> {
    const { job, abort } = entry;
    const started = Date.now();
    if (!job.plan) {
      await this.transientFailure(job, 'unplanned', 'this job was queued by an older codexec and could not be planned (its language is not available here)', log);
      return;
    }
    let outcome;
    try {
      outcome = await runPlan(job as ExecutionRecord & { plan: ExecutionPlan }, this.o.sandbox, {
        signal: abort.signal,
        warnings: this.o.resultWarnings ?? [],
        progress: entry.live ?? undefined,
      });
    } catch (err) {
      if (abort.signal.aborted) outcome = { kind: 'aborted' as const };
      else {
        await entry.live?.close();
        await this.transientFailure(job, 'internal_error', (err as Error).message ?? String(err), log);
        return;
      }
    }
    // Watchers get every output event before the result (the last flush commits before it).
    await entry.live?.close();
    if (outcome.kind === 'aborted') {
      if (abort.signal.reason === 'cancel') {
        const ok = await this.writeWhileLeased(entry, () => this.o.store.finishCanceled(job.id, this.id), log);
        log.info({ status: 'FAILED', failure_reason: 'canceled', recorded: ok }, 'execution canceled while it ran');
        if (ok) this.o.hooks?.finished?.('FAILED', 'canceled', started - job.queuedAt, Date.now() - started);
      }
      return; // shutdown or a lost lease: the queue owns it again
    }
    if (outcome.kind === 'transient') {
      await this.transientFailure(job, outcome.code, outcome.message, log);
      return;
    }
    await this.record(entry, outcome.status, outcome.result, started, log);
  }

  private async record(entry: Running, status: TerminalStatus, result: ExecutionResult, started: number, log: Logger): Promise<void> {
    const { job } = entry;
    const ok = await this.finishAndClaim(entry, status, result, log);
    const runMs = Date.now() - started;
    if (!ok) {
      // The lease was lost (rescued by another executor): the new owner records its own outcome.
      log.warn('finished after losing the lease: result dropped');
      return;
    }
    // A turn later: the result's long polls, told with its commit (events.own), write their
    // answers first; this line's formatting came between the commit and those answers.
    setImmediate(() => {
      log.info({ status, failure_reason: result.failureReason, run_ms: runMs, execution_time_ms: result.executionTimeMs }, `execution ${status}`);
      this.o.hooks?.finished?.(status, result.failureReason, started - job.queuedAt, runMs);
    });
  }

  /**
   * Records the result and, in the same statement, claims the next due job for this slot (one
   * commit instead of two). If the database is unreachable, the result alone is written again
   * while the lease holds (a lost answer may have claimed a job: its lease expires and it is
   * rescued, as for a claim whose answer was lost).
   */
  private async finishAndClaim(entry: Running, status: TerminalStatus, result: ExecutionResult, log: Logger): Promise<boolean> {
    const { job } = entry;
    if (!this.stopped) {
      try {
        const r = await this.o.store.finishAndClaim(job.id, this.id, status, result, this.o.leaseMs);
        entry.next = r.next;
        return r.finished;
      } catch (err) {
        if (!(err instanceof QueueUnavailableError)) throw err;
      }
    }
    return this.writeWhileLeased(entry, () => this.o.store.finish(job.id, this.id, status, result), log);
  }

  /**
   * Writes an outcome, and writes it again while the database is unreachable, for as long as the
   * lease is surely ours: a short database restart must not make a program that already ran run
   * a second time after its lease expires. Past the lease, gives up (the rescuer runs it again).
   */
  private async writeWhileLeased(entry: Running, write: () => Promise<boolean>, log: Logger): Promise<boolean> {
    for (let tries = 1; ; tries++) {
      try {
        return await write();
      } catch (err) {
        if (!(err instanceof QueueUnavailableError) || Date.now() + RESULT_RETRY_MS >= entry.leaseUntil) throw err;
        if (tries === 1) log.warn({ err }, 'could not record the outcome: the database is unreachable; retrying while the lease holds');
        await new Promise((r) => setTimeout(r, RESULT_RETRY_MS));
      }
    }
  }

  private async transientFailure(job: ExecutionRecord, code: string, message: string, log: Logger): Promise<void> {
    const delay = backoffMs(job.attempt, this.o.retryBaseMs);
    const r = await this.o.store.failAttempt(job.id, this.id, { code, message }, delay);
    if (r.kind === 'retry_scheduled') {
      log.warn({ code, message, retry_in_ms: delay }, 'transient failure: retry scheduled');
      this.o.hooks?.retried?.();
      setTimeout(() => this.fill(), delay + 5).unref();
    } else if (r.kind === 'failed') {
      log.error({ code, message, status: 'FAILED' }, 'execution FAILED after a failure on our side');
      this.o.hooks?.finished?.('FAILED', 'internal_error', 0, 0);
    }
  }

  private async heartbeat(): Promise<void> {
    await this.o.store.heartbeat({
      id: this.id,
      hostname: os.hostname(),
      pid: process.pid,
      slots: this.o.slots,
      busy: this.running.size,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
    });
  }

  private async rescue(): Promise<void> {
    const r = await this.o.store.rescueExpired(Date.now(), (attempt) => backoffMs(attempt, this.o.retryBaseMs));
    const n = r.requeued.length + r.failed.length;
    if (n > 0) {
      this.o.logger.warn({ requeued: r.requeued, failed: r.failed }, 'rescued executions whose executor was lost');
      this.o.hooks?.rescued?.(n);
      this.fill();
    }
  }

  /**
   * Ordered stop: claim nothing more, let running executions finish within `graceMs`, then stop
   * the rest and hand them back to the queue (without spending an attempt).
   */
  async stop(graceMs: number): Promise<{ finished: number; handedBack: number }> {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    for (const t of this.timers) clearInterval(t);
    const inFlight = [...this.running.values()];
    const all = Promise.all(inFlight.map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    let handedBack = 0;
    if (timedOut) {
      for (const r of this.running.values()) {
        r.abort.abort('shutdown' satisfies StopReason);
        if (await this.o.store.release(r.job.id, this.id).catch(() => false)) handedBack++;
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, 2000))]);
    }
    await this.o.store.removeExecutor(this.id).catch(() => {});
    return { finished: inFlight.length - handedBack, handedBack };
  }
}
