import type { LiveEvent } from '../../domain/live-events.js';
import { op, type Body, type RunMode } from '../driver.js';
import type { OutputLog, OutputRow } from '../output-log.js';

/** How the queue runs a body (JobQueue.run): the driver, then a poke of this process's listeners after a write. */
export type BodyRunner = <T>(body: () => Body<T>, mode: RunMode, wrote?: boolean) => Promise<T>;

// The live output of watched runs (../output-log.ts says what it is for), over the queue's driver.
// Every method is one statement, so on PostgreSQL one round trip.
export class QueueOutputLog implements OutputLog {
  constructor(private readonly run: BodyRunner) {}

  async watch(id: string, until: number): Promise<boolean> {
    const changed = await this.run(function* () {
      return (yield op('ExecutionWatch', { id, until })).changes;
    }, 'single');
    if (changed > 0) return true;
    // Not changed: it ended, or it is already watched at least that long.
    const still = await this.run(function* () {
      return (yield op('ExecutionGetById', { id })).rows[0];
    }, 'single', false);
    return still !== undefined && (still.status === 'QUEUED' || still.status === 'RUNNING');
  }

  async watched(ids: string[], now = Date.now()): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.run(function* () {
      return (yield op('ExecutionListWatched', { ids: JSON.stringify(ids), now })).rows.map((r) => String(r.id));
    }, 'single', false);
  }

  async append(id: string, attempt: number, owner: string, events: LiveEvent[], now = Date.now()): Promise<boolean> {
    const params = { executionId: id, attempt, owner, events: JSON.stringify(events), now };
    return this.run(function* () {
      return (yield op('OutputInsert', params)).changes === 1;
    }, 'single');
  }

  async after(id: string, after: number, limit: number): Promise<OutputRow[]> {
    const rows = await this.run(function* () {
      return (yield op('OutputListAfter', { executionId: id, after, limit })).rows;
    }, 'single', false);
    return rows.map((r) => ({
      seq: Number(r.seq),
      attempt: Number(r.attempt),
      // SQLite returns the JSON text; pg has parsed its json column already.
      events: (typeof r.events === 'string' ? JSON.parse(r.events) : r.events) as LiveEvent[],
    }));
  }

  async hasAttempt(id: string, attempt: number): Promise<boolean> {
    const row = await this.run(function* () {
      return (yield op('OutputExistsForAttempt', { executionId: id, attempt })).rows[0];
    }, 'single', false);
    return Number(row?.n) === 1;
  }
}
