import { QuotaExceededError } from '../domain/errors.js';
import type { WindowCounters } from '../sessions/window-counters.js';
import type { ApiKey } from './api-key.js';

// A key's runs per minute, whatever route submits them (runs, batch items, Judge0 and Piston
// submissions), counted in window counters: the session store's shared ones on PostgreSQL (one
// count over every API node), this process's own on SQLite (exact: one `serve` owns the data
// directory). A refused run still counts, as with the per-client rate limits: a client that
// keeps sending while refused does not get in earlier.

const MINUTE_MS = 60_000;

export class KeyRunQuota {
  constructor(private readonly counters: WindowCounters) {}

  /** Counts `runs` runs against the key's quota; 429 quota_exceeded (with Retry-After) past it. */
  async charge(key: ApiKey, runs = 1, now = Date.now()): Promise<void> {
    const limit = key.quotas.runsPerMinute;
    if (limit === null) return;
    for (let i = 0; i < runs; i++) {
      const c = await this.counters.hit(`key-runs:${key.id}`, MINUTE_MS, now);
      if (c.count > limit) throw new QuotaExceededError('runs_per_minute', limit, Math.max(1, Math.ceil((c.resetAt - now) / 1000)));
    }
  }
}
