import { isTerminal } from '../domain/states.js';
import type { ExecutionRecord } from '../domain/execution.js';
import { coalescing } from '../queue/wake.js';

// Long polling for GET /executions/{id}?wait_ms=N: the request is answered as soon as the
// execution is terminal, or when N ms have passed, with whatever it is then. A client learns the
// result the moment it is stored instead of polling for it (each poll is a request, a read and a
// response; at a 2-ms poll interval they compete with the execution for the CPU).
//
// Waiters are woken by changes of the job database (`subscribe`: in serve, the queue's wake
// signal, which fires on this process's writes and, through inotify on the WAL, on other
// processes' writes), with a slow poll as a safety net. Each wake re-reads every waited execution:
// one indexed read each, and at most MAX_WAITERS of them.

/** Requests waiting at once; beyond this a request is answered at once (the client polls). */
export const MAX_WAITERS = 1000;
/** The safety-net poll, in case a change notification is missed. */
const FALLBACK_POLL_MS = 250;

type Load = () => Promise<ExecutionRecord | null>;

interface Waiter {
  load: Load;
  done: (rec: ExecutionRecord | null) => void;
  last: ExecutionRecord | null;
}

export class ExecutionWaiter {
  private readonly waiters = new Set<Waiter>();
  private unsubscribe: (() => void) | null = null;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly subscribe?: (cb: () => void) => () => void) {}

  /** The execution as soon as it is terminal, or as it is after `ms`; null when it does not exist. */
  async wait(ms: number, load: Load): Promise<ExecutionRecord | null> {
    const first = await load();
    if (!first || isTerminal(first.status) || ms <= 0 || this.closed || this.waiters.size >= MAX_WAITERS) return first;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(w.last), ms);
      const finish = (rec: ExecutionRecord | null) => {
        if (!this.waiters.delete(w)) return;
        clearTimeout(timer);
        this.idle();
        resolve(rec);
      };
      const w: Waiter = { load, done: finish, last: first };
      this.waiters.add(w);
      this.active();
    });
  }

  /** Answer every waiting request now (shutdown). */
  close(): void {
    this.closed = true;
    for (const w of [...this.waiters]) w.done(w.last);
  }

  private active(): void {
    if (this.waiters.size !== 1) return;
    this.unsubscribe = this.subscribe?.(() => this.check()) ?? null;
    this.poll = setInterval(() => this.check(), FALLBACK_POLL_MS);
    this.poll.unref();
  }

  private idle(): void {
    if (this.waiters.size !== 0) return;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  /** Re-reads every waited execution and answers those that are terminal (or gone). */
  private readonly check = coalescing(async () => {
    for (const w of [...this.waiters]) {
      const rec = await w.load().catch(() => w.last);
      w.last = rec;
      if (!rec || isTerminal(rec.status)) w.done(rec);
    }
  });
}
