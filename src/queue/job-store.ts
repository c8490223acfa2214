import type { AttemptError, ExecutionRecord, ExecutionResult } from '../domain/execution.js';
import type { ExecutionStatus } from '../domain/states.js';
import type { LimitOverrides } from '../domain/limits.js';

// The queue behind one interface. SQLite (src/queue/sqlite/) implements it for one machine;
// PostgreSQL can implement the same for many hosts. Every method is atomic on its own.

export interface NewExecution {
  id: string;
  sessionId: string;
  language: string;
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
  limitOverrides: LimitOverrides;
  maxAttempts: number;
}

export interface EnqueueOptions {
  /** Same key + same session returns the first execution; a different requestHash throws 409. */
  idempotencyKey?: string | null;
  requestHash?: string | null;
  /** Refuse (SessionBusyError, 429) when the session already has this many QUEUED/RUNNING. */
  maxInFlightPerSession?: number;
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
  | { kind: 'failed' } // attempts exhausted: FAILED with failure_reason internal_error
  | { kind: 'lost' }; // lease no longer ours: someone else owns the job now

export interface QueueStats {
  counts: Record<ExecutionStatus, number>;
  oldestQueuedAgeMs: number | null;
  executors: ExecutorInfo[];
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

export interface JobStore {
  enqueue(input: NewExecution, opts?: EnqueueOptions): Promise<EnqueueResult>;
  get(id: string): Promise<ExecutionRecord | null>;
  listBySession(sessionId: string, limit: number): Promise<ExecutionRecord[]>;
  /** Claim the oldest runnable QUEUED job (runAfter <= now) for `owner`; null when none. */
  claim(owner: string, leaseMs: number, now?: number): Promise<ExecutionRecord | null>;
  renewLease(id: string, owner: string, leaseMs: number, now?: number): Promise<boolean>;
  /** RUNNING -> COMPLETED/FAILED/TIMEOUT if `owner` still holds the lease. false: lost. */
  finish(id: string, owner: string, status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>, result: ExecutionResult, now?: number): Promise<boolean>;
  /** A transient failure: back to QUEUED with backoff, or FAILED(internal_error) after the last attempt. */
  failAttempt(id: string, owner: string, failure: AttemptFailure, backoffMs: number, now?: number): Promise<AttemptFailureResult>;
  /** Shutdown hand-back: RUNNING -> QUEUED without spending an attempt. */
  release(id: string, owner: string, now?: number): Promise<boolean>;
  /** Expired leases: back to QUEUED (attempt error 'lease_expired') or FAILED when exhausted. Returns ids rescued. */
  rescueExpired(now?: number, backoffMs?: (attempt: number) => number): Promise<{ requeued: string[]; failed: string[] }>;
  /** QUEUED jobs of a closed session -> FAILED(cancelled). */
  cancelQueuedForSession(sessionId: string, now?: number): Promise<number>;
  /** Delete terminal executions finished before `before`. */
  prune(before: number): Promise<number>;
  stats(now?: number): Promise<QueueStats>;
  /** Executors registry (for status and readiness). */
  heartbeat(info: ExecutorInfo): Promise<void>;
  removeExecutor(id: string): Promise<void>;
  close(): Promise<void>;
}

export type { AttemptError };
