// Fixed-window counters shared by the API nodes of one database: rate limits per client and
// route today, per-key quotas (runs per minute) later. A window starts at a key's first hit and
// lasts `windowMs`; the first hit after it ends starts a new one (@fastify/rate-limit's in-memory
// store counts the same way, so one node or several limit alike).

export interface WindowCount {
  /** Hits in the current window, this one included (each hit gets its own number). */
  count: number;
  /** When the current window ends (epoch ms); the next hit after it counts 1 again. */
  resetAt: number;
}

export interface WindowCounters {
  /** Counts one hit of `key`. Rejects with QueueUnavailableError when the database is away. */
  hit(key: string, windowMs: number, now?: number): Promise<WindowCount>;
}
