import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JobStore } from '../queue/job-store.js';
import { coalescing, type WakeSignal } from '../queue/wake.js';
import { backoffMs } from '../queue/backoff.js';
import type { LanguageRegistry } from '../languages/registry.js';
import type { ExecutionRecord, RunOutcome } from '../domain/execution.js';
import { clampLimits } from '../domain/limits.js';
import { toStoredResult } from '../domain/feedback.js';
import type { CodexecError } from '../domain/errors.js';
import type { SandboxTask } from './task.js';

/** Runs one task in a sandbox, in this thread or in a pool thread. */
export interface JobRunner {
  run(task: SandboxTask, signal: AbortSignal): Promise<RunOutcome>;
  close(): Promise<void>;
}

/** Lifecycle events, for metrics (the API process registers them). */
export interface ExecutorHooks {
  finished?(status: string, failureReason: string | null, queueWaitMs: number, runMs: number): void;
  retried?(): void;
  rescued?(n: number): void;
  busy?(busy: number, idle: number): void;
}

export interface ExecutorOptions {
  store: JobStore;
  languages: LanguageRegistry;
  runner: JobRunner;
  wake: WakeSignal;
  logger: Logger;
  slots: number;
  leaseMs: number;
  retryBaseMs: number;
  /** Warnings added to every result (e.g. running without isolation). */
  resultWarnings?: string[];
  hooks?: ExecutorHooks;
  heartbeatMs?: number;
  retentionMs?: number;
}

interface Running {
  job: ExecutionRecord;
  abort: AbortController;
  renew: NodeJS.Timeout;
  done: Promise<void>;
}

// Claims jobs from the queue into free slots as soon as a wake arrives, runs each through the
// runner, renews its lease while it runs, and records exactly one outcome. Transient failures
// (sandbox setup, internal errors) go back to the queue with backoff; the program's own failures
// are results, never retried.
export class Executor {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly running = new Map<string, Running>();
  private stopped = false;
  private readonly startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: () => void = () => {};

  constructor(private readonly o: ExecutorOptions) {}

  start(): void {
    this.unsubscribe = this.o.wake.onWake(() => this.fill());
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
      }
    },
    {
      onError: (err) => this.o.logger.error({ err }, 'claim failed'),
      after: () => this.o.hooks?.busy?.(this.running.size, this.o.slots - this.running.size),
    },
  );

  private startJob(job: ExecutionRecord): void {
    const log = this.o.logger.child({ execution_id: job.id, session_id: job.sessionId, executor_id: this.id, attempt: job.attempt });
    log.info({ status: 'RUNNING', queue_wait_ms: (job.startedAt ?? Date.now()) - job.queuedAt }, 'execution RUNNING');
    const abort = new AbortController();
    const renew = setInterval(() => {
      void this.o.store.renewLease(job.id, this.id, this.o.leaseMs).then(
        (ok) => {
          if (!ok && !abort.signal.aborted) {
            log.warn('lease lost: another executor owns this execution now; stopping it here');
            abort.abort();
          }
        },
        // The store is unreachable (a database restart): the run goes on and the next renewal
        // tries again; if the lease expires meanwhile, whoever rescues the job owns it.
        (err) => log.warn({ err }, 'lease renewal failed; trying again at the next interval'),
      );
    }, Math.max(250, Math.floor(this.o.leaseMs / 3)));
    renew.unref();
    const entry: Running = { job, abort, renew, done: Promise.resolve() };
    // execute() records the outcome; if even that fails (the store is unreachable), the job stays
    // RUNNING under our lease, which expires: a rescue runs it again (attempt + 1), so it is
    // delayed, never lost, and this process does not die of the rejection.
    entry.done = this.execute(job, abort.signal, log)
      .catch((err) => log.error({ err }, 'could not record the outcome: the job will be rescued when its lease expires'))
      .finally(() => {
        clearInterval(renew);
        this.running.delete(job.id);
        this.fill();
      });
    this.running.set(job.id, entry);
  }

  private async execute(job: ExecutionRecord, signal: AbortSignal, log: Logger): Promise<void> {
    const started = Date.now();
    try {
      const profile = this.o.languages.resolve(job.language);
      const runLimits = clampLimits(profile.limits.default, profile.limits.maximum, job.limitOverrides);
      const outcome = await this.o.runner.run(
        {
          executionId: job.id,
          profile,
          sourceCode: job.sourceCode,
          stdin: job.stdin,
          runLimits,
          compileLimits: profile.compile?.limits ?? null,
        },
        signal,
      );
      if (signal.aborted) return; // handed back (shutdown) or lost: the queue owns it again
      if (outcome.kind === 'sandbox_error') {
        await this.transientFailure(job, 'sandbox_error', `${outcome.sandboxErrorStep ?? 'setup'}: ${outcome.message ?? ''}`, log);
        return;
      }
      outcome.warnings.push(...(this.o.resultWarnings ?? []));
      const { status, result } = toStoredResult(outcome, runLimits, job.expectedOutput);
      const ok = await this.o.store.finish(job.id, this.id, status, result);
      // Long-polling readers in this process learn of the result now (other processes via the WAL).
      this.o.wake.notify();
      const runMs = Date.now() - started;
      if (!ok) {
        log.warn('finished after losing the lease: result dropped, the new owner records its own');
        return;
      }
      log.info({ status, failure_reason: result.failureReason, run_ms: runMs, execution_time_ms: result.executionTimeMs }, `execution ${status}`);
      this.o.hooks?.finished?.(status, result.failureReason, started - job.queuedAt, runMs);
    } catch (err) {
      if (signal.aborted) return;
      const e = err as CodexecError;
      await this.transientFailure(job, e.code === 'unsupported_language' ? 'unsupported_language' : 'internal_error', e.message ?? String(err), log);
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
      log.error({ code, message, status: 'FAILED', failure_reason: 'internal_error' }, 'execution FAILED after its last attempt');
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
    this.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    const inFlight = [...this.running.values()];
    const all = Promise.all(inFlight.map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    let handedBack = 0;
    if (timedOut) {
      for (const r of this.running.values()) {
        r.abort.abort();
        if (await this.o.store.release(r.job.id, this.id)) handedBack++;
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, 2000))]);
    }
    await this.o.store.removeExecutor(this.id).catch(() => {});
    return { finished: inFlight.length - handedBack, handedBack };
  }
}
