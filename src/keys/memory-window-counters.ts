import type { WindowCount, WindowCounters } from '../sessions/window-counters.js';

// Window counters in this process's memory, counting like the shared ones (a window starts at a
// key's first hit and lasts `windowMs`). Exact when one API node owns the data (SQLite: one
// `serve` per data directory); several nodes share the PostgreSQL ones instead. Ended windows are
// dropped as hits come, so the map holds only keys hit within the last window.

const PRUNE_EVERY_MS = 60_000;

export class MemoryWindowCounters implements WindowCounters {
  private readonly windows = new Map<string, WindowCount>();
  private lastPruneAt = 0;

  async hit(key: string, windowMs: number, now = Date.now()): Promise<WindowCount> {
    if (now - this.lastPruneAt >= PRUNE_EVERY_MS) this.prune(now);
    const w = this.windows.get(key);
    const next = !w || w.resetAt <= now ? { count: 1, resetAt: now + windowMs } : { count: w.count + 1, resetAt: w.resetAt };
    this.windows.set(key, next);
    return next;
  }

  private prune(now: number): void {
    this.lastPruneAt = now;
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
  }
}
