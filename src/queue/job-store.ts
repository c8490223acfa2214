import type { AttemptError, ExecutionRecord, ExecutionResult } from '../domain/execution.js';
import type { ExecutionPlan } from '../domain/plan.js';
import type { ExecutionStatus } from '../domain/states.js';
import type { QueueEvents } from './events.js';
import type { OutputLog } from './output-log.js';
import type { WebhookOutbox } from './webhook-outbox.js';

// The job queue behind one interface. One implementation (core/job-queue.ts) holds every rule;
// it runs named statements through a driver per database (sqlite/, postgres/).

export interface NewExecution {
  id: string;
  /** The session whose code this runs, or null for a run submitted with its code inline. */
  sessionId: string | null;
  /** Who submitted it (an API key's id), or null. */
  owner: string | null;
  sourceCode: string;
  plan: ExecutionPlan;
  maxAttempts: number;
  /** Where the result is POSTed when it finishes (checked by the submit path), or null. */
  callbackUrl?: string | null;
}

export interface EnqueueOptions {
  /** Same key in the same scope (the session; else the owner) returns the first execution; a different requestHash throws 409. */
  idempotencyKey?: string | null;
  requestHash?: string | null;
  /** Refuse (SessionBusyError, 429) when the session already has this many QUEUED/RUNNING. */
  maxInFlightPerSession?: number;
  /** Refuse (QuotaExceededError, 429) when the owner already has this many QUEUED/RUNNING. */
  maxInFlightPerOwner?: number;
  /** Refuse (QueueFullError, 503) when this many are QUEUED. */
  maxQueueDepth?: number;
  now?: number;
}

export interface EnqueueResult {
  execution: ExecutionRecord;
  /** false when an idempotent replay returned an existing execution */
  created: boolean;
}

/** What an executor reports when a transient failure ends an attempt. */
export interface AttemptFailure {
  code: string; // 'sandbox_error' | 'internal_error' | 'lease_expired' | ...
  message: string;
}

export type AttemptFailureResult =
  | { kind: 'retry_scheduled'; runAfter: number }
  | { kind: 'failed' } // attempts exhausted (FAILED internal_error), or canceled meanwhile (FAILED canceled)
  | { kind: 'lost' }; // lease no longer ours: someone else owns the job now

/** What a cancel did. */
export type CancelOutcome =
  | { kind: 'canceled'; execution: ExecutionRecord } // was QUEUED: FAILED(canceled) now
  | { kind: 'cancel_requested'; execution: ExecutionRecord } // RUNNING: its executor stops it
  | { kind: 'already_canceled'; execution: ExecutionRecord } // idempotent repeat
  | { kind: 'finished'; execution: ExecutionRecord } // terminal for another reason: nothing to cancel
  | { kind: 'not_found' };

export type TerminalStatus = Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>;

/** What finishAndClaim did: whether the finish was ours to make, and the job claimed next (or null). */
export interface FinishAndClaim {
  finished: boolean;
  next: ExecutionRecord | null;
}

/** What GET /readyz reads: the live part of QueueStats, without counting every execution kept. */
export interface QueueReadiness {
  queued: number;
  running: number;
  oldestQueuedAgeMs: number | null;
  executors: ExecutorInfo[];
}

export interface QueueStats {
  counts: Record<ExecutionStatus, number>;
  oldestQueuedAgeMs: number | null;
  executors: ExecutorInfo[];
  /** `codexec serve` processes with a heartbeat within the forget period (three leases). */
  apiNodes: ApiNodeInfo[];
  recentFailures: { id: string; finishedAt: number; failureReason: string | null }[];
}

export interface ExecutorInfo {
  id: string;
  hostname: string;
  pid: number;
  slots: number;
  busy: number;
  startedAt: number;
  heartbeatAt: number;
}

/** An API node (`codexec serve`), as it records itself. */
export interface ApiNodeInfo {
  id: string;
  hostname: string;
  pid: number;
  /** codexec version it runs (a rolling upgrade shows two). */
  version: string;
  /** host:port it listens on (its host name when it listens on every address). */
  address: string;
  /** Embedded executor slots (CODEXEC_EXECUTORS); 0: API only. */
  executors: number;
  startedAt: number;
  heartbeatAt: number;
}

export interface JobStore {
  /** Status changes of jobs, from this process and every other one sharing the database. */
  readonly events: QueueEvents;
  /** What watched runs print while they run (GET /executions/{id}/events). */
  readonly output: OutputLog;
  /** Webhooks of finished executions, waiting for delivery or delivered. */
  readonly webhooks: WebhookOutbox;

  enqueue(input: NewExecution, opts?: EnqueueOptions): Promise<EnqueueResult>;
  get(id: string): Promise<ExecutionRecord | null>;
  listBySession(sessionId: string, limit: number): Promise<ExecutionRecord[]>;
  /** Claim the oldest runnable QUEUED job (runAfter <= now) for `owner`; null when none. */
  claim(owner: string, leaseMs: number, now?: number): Promise<ExecutionRecord | null>;
  renewLease(id: string, owner: string, leaseMs: number, now?: number): Promise<boolean>;
  /** RUNNING -> COMPLETED/FAILED/TIMEOUT if `owner` still holds the lease. false: lost. */
  finish(id: string, owner: string, status: TerminalStatus, result: ExecutionResult, now?: number): Promise<boolean>;
  /**
   * finish(), then claim() for the same owner, in one statement and one commit: the executor's
   * slot passes from the finished job to the next due one (a WAL flush less per run on PostgreSQL).
   */
  finishAndClaim(id: string, owner: string, status: TerminalStatus, result: ExecutionResult, leaseMs: number, now?: number): Promise<FinishAndClaim>;
  /** The executor stopped a run because its cancel was asked for: FAILED(canceled), if the lease is still ours. */
  finishCanceled(id: string, owner: string, now?: number): Promise<boolean>;
  /** A transient failure: back to QUEUED with backoff, or FAILED(internal_error) after the last attempt. */
  failAttempt(id: string, owner: string, failure: AttemptFailure, backoffMs: number, now?: number): Promise<AttemptFailureResult>;
  /** Shutdown hand-back: RUNNING -> QUEUED without spending an attempt. */
  release(id: string, owner: string, now?: number): Promise<boolean>;
  /** Expired leases: back to QUEUED (attempt error 'lease_expired'), FAILED when exhausted or canceled. */
  rescueExpired(now?: number, backoff?: (attempt: number) => number): Promise<{ requeued: string[]; failed: string[] }>;
  /** Cancel one execution: QUEUED ends at once, RUNNING is flagged for its executor. */
  cancel(id: string, now?: number): Promise<CancelOutcome>;
  /** Of these RUNNING ids, those whose cancel was asked for (an executor's check after a resync). */
  cancelRequested(ids: string[]): Promise<string[]>;
  /** QUEUED jobs of a closed session -> FAILED(canceled). */
  cancelQueuedForSession(sessionId: string, now?: number): Promise<number>;
  /** Delete terminal executions finished before `before` (and old events). */
  prune(before: number, now?: number): Promise<number>;
  stats(now?: number): Promise<QueueStats>;
  /** The queued and running counts, the oldest queued age and the executors (a probe's, often). */
  readiness(now?: number): Promise<QueueReadiness>;
  /** Executors registry (for status and readiness). */
  heartbeat(info: ExecutorInfo): Promise<void>;
  removeExecutor(id: string): Promise<void>;
  /** API nodes registry (for status): each `codexec serve` records itself every few seconds. */
  apiNodeHeartbeat(info: ApiNodeInfo): Promise<void>;
  removeApiNode(id: string): Promise<void>;
  /** Rows queued by an older codexec without a plan get one (run once at startup by a process that has the profiles). */
  planLegacy(planner: (legacy: LegacyJob) => ExecutionPlan | null): Promise<number>;
  close(): Promise<void>;
}

/** What a job queued before plans existed carries instead of a plan. */
export interface LegacyJob {
  id: string;
  language: string;
  stdin: string;
  expectedOutput: string | null;
  limitOverrides: { wallTimeMs?: number; cpuTimeMs?: number; memoryBytes?: number };
}

export type { AttemptError };
