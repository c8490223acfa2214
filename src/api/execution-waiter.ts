import { isTerminal } from '../domain/states.js';
import type { ExecutionRecord } from '../domain/execution.js';
import type { QueueEvents } from '../queue/events.js';

// Long polling for GET /executions/{id}?wait_ms=N: the request is answered as soon as the
// execution is terminal, or when N ms have passed, with whatever it is then. A client learns the
// result the moment it is stored instead of polling for it.
//
// A waiter listens for its own execution's events only (the queue tells every process which job
// finished), so a finish re-reads one execution, not every waited one. It subscribes before its
// first read, so a finish between the two is not missed; after a resync (events may have been
// lost) every waiter re-reads once. A finish committed by this process (an embedded executor's)
// comes with the row it wrote, and is answered from it at once.

/** Requests waiting at once; beyond this a request is answered at once (the client polls). */
export const MAX_WAITERS = 1000;

type Load = () => Promise<ExecutionRecord | null>;
/** What the caller may see of a row: the row, or null (another key's). */
type Visible = (row: ExecutionRecord) => ExecutionRecord | null;

export class ExecutionWaiter {
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly events: QueueEvents) {}

  /**
   * The execution as soon as it is terminal, or as it is after `ms`; null when it does not exist.
   * `load` reads it; a finish this process committed comes with its row, which `visible` filters
   * as `load` does, and answers without a read.
   */
  async wait(id: string, ms: number, load: Load, visible: Visible): Promise<ExecutionRecord | null> {
    if (ms <= 0 || this.closed || this.waiters.size >= MAX_WAITERS) return load();
    return new Promise((resolve, reject) => {
      let last: ExecutionRecord | null = null;
      let done = false;
      let reading = false;
      let again = false;
      let firstRead = false;
      let answerWanted = false;
      const finish = (rec: ExecutionRecord | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        offJob();
        offResync();
        this.waiters.delete(answerNow);
        resolve(rec);
      };
      /** Takes `rec` as the latest state; true when that answers the request. */
      const settle = (rec: ExecutionRecord | null): boolean => {
        if (done) return true;
        last = rec;
        firstRead = true;
        if (!rec || isTerminal(rec.status) || answerWanted) {
          finish(rec);
          return true;
        }
        return false;
      };
      const check = (): void => {
        if (done) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        load().then(
          (rec) => {
            reading = false;
            if (!settle(rec) && again) {
              again = false;
              check();
            }
          },
          (err: unknown) => {
            reading = false;
            // The first read failing is the request's error; a later one keeps the last answer.
            if (last === null && !done) {
              done = true;
              clearTimeout(timer);
              offJob();
              offResync();
              this.waiters.delete(answerNow);
              reject(err);
            }
          },
        );
      };
      // Time is up (or shutdown): answer with the last read, once there is one.
      const answerNow = () => {
        if (firstRead) finish(last);
        else answerWanted = true;
      };
      const offJob = this.events.onJob(id, (e) => {
        if (e.kind !== 'finished') return;
        // This process's own finish: its row is the committed state, newer than any read in flight.
        if (e.row && settle(visible(e.row))) return;
        check();
      });
      const offResync = this.events.onResync(check);
      const timer = setTimeout(answerNow, ms);
      this.waiters.add(answerNow);
      check();
    });
  }

  /** Answer every waiting request now (shutdown). */
  close(): void {
    this.closed = true;
    for (const answer of [...this.waiters]) answer();
  }
}
