import type { LiveEvent } from '../domain/live-events.js';

// The live output of watched runs, stored with the job queue so that a watcher on any process
// (and, on PostgreSQL, any host) sees what a run prints wherever it runs. A run is recorded only
// while someone watches it (watch(), renewed by the process that serves the watchers): runs nobody
// watches write nothing. Each flush of an executor is one row of events; rows are announced as
// "output" queue events and deleted with their execution. core/output-log.ts implements it.

export interface OutputRow {
  /** Increasing per database: a watcher resumes after the last row it saw. */
  seq: number;
  attempt: number;
  events: LiveEvent[];
}

export interface OutputLog {
  /** Someone follows job `id` until `until` (epoch ms). false: it is no longer QUEUED or RUNNING. */
  watch(id: string, until: number): Promise<boolean>;
  /** Of these RUNNING ids, those followed now (an executor's check after missed events). */
  watched(ids: string[], now?: number): Promise<string[]>;
  /** One flush of a run's events; false (nothing written) when `owner` no longer holds this attempt's lease. */
  append(id: string, attempt: number, owner: string, events: LiveEvent[], now?: number): Promise<boolean>;
  /** Rows of job `id` after seq `after`, oldest first, at most `limit`. */
  after(id: string, after: number, limit: number): Promise<OutputRow[]>;
  /** Whether that attempt of job `id` recorded any row. */
  hasAttempt(id: string, attempt: number): Promise<boolean>;
}
