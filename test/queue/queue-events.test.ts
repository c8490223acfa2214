import { describe, expect, it } from 'vitest';
import { createQueueEvents, type EventTransport, type JobEvent } from '../../src/queue/events.js';
import type { ExecutionRecord } from '../../src/domain/execution.js';

// QueueEvents.own: what this process committed, told to its own listeners at once, before (and
// besides) the database's event of the same commit. A transport that never delivers anything
// stands in for the database, so that only own() can be what is heard.

function silentTransport(): EventTransport {
  return { start() {}, poke() {}, watching: true, close() {} };
}

const row = (id: string, status: ExecutionRecord['status']) => ({ id, status }) as ExecutionRecord;

/** QueueEvents on a silent transport, with an executor's wake counted and job `id`'s events kept. */
function listening(id: string) {
  const events = createQueueEvents(silentTransport(), { pollMs: 0 });
  const seen = { available: 0, heard: [] as JobEvent[] };
  events.onAvailable(() => seen.available++);
  events.onJob(id, (e) => seen.heard.push(e));
  return { events, seen };
}
const nextTick = () => new Promise((r) => process.nextTick(r));

describe('QueueEvents.own', () => {
  it('"available": this process\'s executors look now, and the job\'s listeners hear it with the row', async () => {
    const { events, seen } = listening('a');
    events.own({ kind: 'available', id: 'a', row: row('a', 'QUEUED') });
    // At once: the claim's statement comes before the rest of the enqueuing request.
    expect(seen.available).toBe(1);
    expect(seen.heard).toEqual([{ kind: 'available', id: 'a', row: row('a', 'QUEUED') }]);
    await nextTick();
    expect(seen.available).toBe(1);
    events.close();
  });

  it('"available" wakes the executors once per tick, however many jobs were enqueued in it', async () => {
    const events = createQueueEvents(silentTransport(), { pollMs: 0 });
    let available = 0;
    events.onAvailable(() => available++);
    for (const id of ['a', 'b', 'c']) events.own({ kind: 'available', id, row: row(id, 'QUEUED') });
    expect(available).toBe(1);
    await nextTick();
    events.own({ kind: 'available', id: 'd', row: row('d', 'QUEUED') });
    expect(available).toBe(2);
    events.close();
  });

  it('"finished": only that job\'s listeners hear it, at once; no executor is woken', async () => {
    const events = createQueueEvents(silentTransport(), { pollMs: 0 });
    let available = 0;
    const a: JobEvent[] = [];
    const b: JobEvent[] = [];
    const all: JobEvent[] = [];
    events.onAvailable(() => available++);
    events.onJob('a', (e) => a.push(e));
    events.onJob('b', (e) => b.push(e));
    events.onEvent((e) => all.push(e));
    events.own({ kind: 'finished', id: 'a', row: row('a', 'COMPLETED') });
    expect(a.map((e) => e.row?.status)).toEqual(['COMPLETED']);
    expect(b).toEqual([]);
    // Listeners of every event hear the database's, not this.
    expect(all).toEqual([]);
    await nextTick();
    expect(available).toBe(0);
    events.close();
  });

  it('a listener that throws is not the committing caller\'s failure, and the others still hear', () => {
    const errors: unknown[] = [];
    const events = createQueueEvents(silentTransport(), { pollMs: 0, onListenerError: (err) => errors.push(err) });
    const heard: string[] = [];
    events.onJob('a', () => {
      throw new Error('listener bug');
    });
    events.onJob('a', (e) => heard.push(e.kind));
    expect(() => events.own({ kind: 'finished', id: 'a', row: row('a', 'COMPLETED') })).not.toThrow();
    expect(heard).toEqual(['finished']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener bug']);
    events.close();
  });

  it('tells nothing once closed', async () => {
    const { events, seen } = listening('a');
    events.close();
    events.own({ kind: 'available', id: 'a', row: row('a', 'QUEUED') });
    await nextTick();
    expect([seen.available, seen.heard.length]).toEqual([0, 0]);
  });
});
