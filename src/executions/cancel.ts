import { ExecutionFinishedError, NotFoundError } from '../domain/errors.js';
import type { ExecutionRecord } from '../domain/execution.js';
import type { JobStore } from '../queue/job-store.js';

// Canceling a run: the one path for POST /executions/{id}/cancel and Ctrl-C on `codexec run`. A
// QUEUED execution ends at once (FAILED, failure_reason canceled); a RUNNING one is flagged, and
// the executor running it, in this process or any other (on any host), hears the queue's
// "cancel" event and kills its whole process tree. Asking again is harmless; an execution that
// ended for another reason is a 409.

export interface Canceled {
  execution: ExecutionRecord;
  /** true when the run is still being stopped (it was RUNNING); false when it has ended. */
  pending: boolean;
}

/** `owner`: when set, an execution of another owner is not found (API keys see only their own). */
export async function cancelExecution(jobs: JobStore, id: string, owner: string | null = null, now = Date.now()): Promise<Canceled> {
  if (owner !== null) {
    const seen = await jobs.get(id);
    if (!seen || seen.owner !== owner) throw new NotFoundError('execution', id);
  }
  const outcome = await jobs.cancel(id, now);
  switch (outcome.kind) {
    case 'not_found':
      throw new NotFoundError('execution', id);
    case 'finished':
      throw new ExecutionFinishedError(id, outcome.execution.status);
    case 'cancel_requested':
      return { execution: outcome.execution, pending: outcome.execution.status === 'RUNNING' };
    case 'canceled':
    case 'already_canceled':
      return { execution: outcome.execution, pending: false };
  }
}
