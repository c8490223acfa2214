import type { WindowCount, WindowCounters } from '../window-counters.js';
import type { RunStatement } from './sql.js';

// Statements of this node's counters running at once; hits that arrive meanwhile wait for the
// next one.
const MAX_IN_FLIGHT = 2;
// Every node deletes ended windows once a minute, after a hit (no timer to stop); prunes of two
// nodes at once skip each other's rows (SKIP LOCKED), so none is deleted twice or waited for.
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_BATCH = 1000;

interface Waiter {
  key: string;
  now: number;
  windowMs: number;
  resolve: (c: WindowCount) => void;
  reject: (err: unknown) => void;
}

// The rate-limit counters of every API node, in the rate_limit_windows table. Hits are counted
// in groups: while MAX_IN_FLIGHT statements run, new hits wait, and the next statement
// (RateLimitHits) counts all of them, every key once with its number of hits, each caller
// getting its own number in its key's range. So a busy node sends a few statements at a time
// whatever its request rate, and a hot key (many learners behind one address) costs one row
// update per statement instead of a queue of statements waiting on one row lock. Each hit is
// counted exactly once, and answered only once committed.
export class PostgresWindowCounters implements WindowCounters {
  private queued: Waiter[] = [];
  private inFlight = 0;
  private lastPruneAt = 0;

  constructor(
    private readonly run: RunStatement,
    private readonly clock: () => number = Date.now,
  ) {}

  hit(key: string, windowMs: number, now = this.clock()): Promise<WindowCount> {
    return new Promise((resolve, reject) => {
      this.queued.push({ key, now, windowMs, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queued.length > 0) {
      const batch = this.queued;
      this.queued = [];
      this.inFlight += 1;
      void this.send(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async send(batch: Waiter[]): Promise<void> {
    const byKey = new Map<string, Waiter[]>();
    for (const w of batch) {
      const same = byKey.get(w.key);
      if (same) same.push(w);
      else byKey.set(w.key, [w]);
    }
    const keys = [...byKey.keys()].sort();
    // The newest `now` of the batch: a window that ended for any of its hits has ended for all.
    const now = Math.max(...batch.map((w) => w.now));
    try {
      const { rows } = await this.run<{ key: string; hits: number; windowEndsAt: number }>('RateLimitHits', {
        keys,
        hits: keys.map((k) => byKey.get(k)!.length),
        windowMs: keys.map((k) => byKey.get(k)![0].windowMs),
        now,
      });
      for (const { key, hits, windowEndsAt } of rows) {
        const waiters = byKey.get(key)!;
        waiters.forEach((w, i) => w.resolve({ count: hits - waiters.length + 1 + i, resetAt: windowEndsAt }));
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
    if (now - this.lastPruneAt >= PRUNE_INTERVAL_MS) void this.prune(now).catch(() => undefined);
  }

  /** Deletes windows that ended before `now`; returns how many. */
  async prune(now = this.clock()): Promise<number> {
    this.lastPruneAt = now;
    let total = 0;
    for (;;) {
      const n = (await this.run('RateLimitPruneBatch', { now, batch: PRUNE_BATCH })).rowCount ?? 0;
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }
}
