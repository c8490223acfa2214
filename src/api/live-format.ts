import type { ExecutionRecord } from '../domain/execution.js';
import type { LiveFormat } from '../live/tail.js';
import { caseView, executionView } from './views.js';

// The JSON of each event of GET /executions/{id}/events (schemas/events.ts documents them):
// state, output, case_started, case_finished, and result (the same JSON as GET /executions/{id}).

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function caseName(e: ExecutionRecord, index: number): string | null {
  return e.plan?.testCases?.[index]?.name ?? null;
}

export const liveFormat: LiveFormat = {
  state: (e) => ({
    execution_id: e.id,
    status: e.status,
    attempt: e.attempt,
    queued_at: iso(e.queuedAt),
    started_at: iso(e.startedAt),
    finished_at: iso(e.finishedAt),
  }),
  event(ev, attempt, e) {
    switch (ev.type) {
      case 'output':
        return { event: 'output', data: { stream: ev.stream, text: ev.text, attempt, case: ev.case, case_name: ev.case === null ? null : caseName(e, ev.case) } };
      case 'case_started':
        return { event: 'case_started', data: { case: ev.case, name: ev.name, hidden: ev.hidden, attempt } };
      case 'case_finished':
        return { event: 'case_finished', data: { case: ev.case, attempt, ...caseView(ev.result) } };
    }
  },
  result: (e) => executionView(e),
};
