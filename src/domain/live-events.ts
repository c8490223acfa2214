import type { CaseResult } from './execution.js';

// What a run tells its watchers while it runs (GET /executions/{id}/events), recorded by its
// executor in the order it happened and read back by every process that serves a watcher. Output
// is text decoded from the bytes the sandbox kept (the stored output's caps apply); a hidden test
// case's output never becomes an event, and its finish carries only its name and status.

export type LiveEvent =
  | { type: 'output'; stream: 'stdout' | 'stderr'; /** Test case index (0-based), or null for a single run. */ case: number | null; text: string }
  | { type: 'case_started'; case: number; name: string; hidden: boolean }
  | { type: 'case_finished'; case: number; result: CaseResult };
