import type { ExecutionRecord } from '../domain/execution.js';
import type { LiveEvent } from '../domain/live-events.js';

// The events of a finished attempt that recorded none (nobody watched it while it ran, or the
// watcher came as it ended): made from its stored result, so a watcher always gets the whole
// output as events before the result, however late it came. Hidden cases carry no output in the
// result, so none appears here either.
export function eventsFromResult(e: ExecutionRecord): LiveEvent[] {
  const r = e.result;
  if (!r) return [];
  const out: LiveEvent[] = [];
  const text = (stream: 'stdout' | 'stderr', caseIndex: number | null, s: string) => {
    if (s !== '') out.push({ type: 'output', stream, case: caseIndex, text: s });
  };
  if (!r.testCases) {
    text('stdout', null, r.stdout);
    text('stderr', null, r.stderr);
    return out;
  }
  for (const [i, c] of r.testCases.entries()) {
    out.push({ type: 'case_started', case: i, name: c.name, hidden: c.hidden });
    text('stdout', i, c.stdout);
    text('stderr', i, c.stderr);
    out.push({ type: 'case_finished', case: i, result: c });
  }
  return out;
}
