import type { ExecutionRecord } from '../domain/execution.js';

// Status changes of jobs, told to every process that shares the queue, each with the job's id, so
// a process reacts only to what concerns it: executors claim on "available" and stop a run on
// "cancel"; long polls and live output wake on their own job's "started"/"finished". The
// database publishes them itself (triggers on the job table, see statements.ts), and a driver's
// transport brings them here: SQLite tails an event table when its WAL changes (inotify), and
// PostgreSQL LISTENs to NOTIFY. A transport that may have missed events says "resync": then
// whoever waits re-reads what it waits for.

// output / watch / webhook: a watched run flushed output; someone started following a job (its
// executor starts recording output); a finished job's webhook waits for delivery (migration 3).
export const JOB_EVENT_KINDS = ['available', 'started', 'finished', 'cancel', 'output', 'watch', 'webhook'] as const;
export type JobEventKind = (typeof JOB_EVENT_KINDS)[number];

export interface JobEvent {
  kind: JobEventKind;
  id: string;
  /**
   * The job's row as this process's own commit left it: only on an event told in-process at once
   * (QueueEvents.own), never on one the database brings.
   */
  row?: ExecutionRecord;
}

export interface EventSink {
  /** Events in commit order. */
  deliver(events: JobEvent[]): void;
  /** Some events may have been lost (a reconnect, a blind watch): re-read. */
  resync(): void;
}

/** A database's way of bringing events to this process. */
export interface EventTransport {
  start(sink: EventSink): void;
  /** This process just committed a change: look now rather than wait for the watch. */
  poke(): void;
  /** False while events cannot arrive (the watch or the connection is down): listeners must poll. */
  readonly watching: boolean;
  close(): void;
}

export interface QueueEvents {
  /**
   * A job may be claimable (coalesced per tick; also fired by the periodic look for delayed
   * retries; at once for a job this process enqueued, own()).
   */
  onAvailable(cb: () => void): () => void;
  /** Every event of one job. */
  onJob(id: string, cb: (e: JobEvent) => void): () => void;
  /** Every event of every job. */
  onEvent(cb: (e: JobEvent) => void): () => void;
  /** Events may have been missed: re-read what you wait for. */
  onResync(cb: () => void): () => void;
  /** This process committed a change (delivers its events now). */
  poke(): void;
  /**
   * This process committed `event.row` (the statement's own returned row): the job's listeners
   * (onJob), and for "available" this process's executors (onAvailable), hear it now, without
   * waiting for the database's event of the same commit, which they hear too (on PostgreSQL it may
   * even come first: the NOTIFY arrives on another connection than the statement's answer). A long poll answers from the row
   * instead of reading the job again; an idle executor claims without waiting for the event.
   */
  own(event: JobEvent & { row: ExecutionRecord }): void;
  readonly watching: boolean;
  close(): void;
}

/** The periodic look: retries scheduled with a backoff become claimable with no event. */
export const AVAILABLE_POLL_MS = 1000;

export interface QueueEventsOptions {
  pollMs?: number;
  unref?: boolean;
  /**
   * A listener that threw while told of this process's own commit (own()). Default: thrown again
   * on the next tick, uncaught, as a listener's failure on the database's events is; never to the
   * committing caller, whose commit stands.
   */
  onListenerError?: (err: unknown) => void;
}

const throwLater = (err: unknown): void => {
  process.nextTick(() => {
    throw err;
  });
};

export function createQueueEvents(transport: EventTransport, opts: QueueEventsOptions = {}): QueueEvents {
  const available = new Set<() => void>();
  const perJob = new Map<string, Set<(e: JobEvent) => void>>();
  const all = new Set<(e: JobEvent) => void>();
  const resyncs = new Set<() => void>();
  let availablePending = false;
  let ownAvailableThisTick = false;
  let closed = false;
  let started = false;

  const fireAvailable = (): void => {
    if (availablePending || closed) return;
    availablePending = true;
    process.nextTick(() => {
      availablePending = false;
      if (!closed) for (const cb of [...available]) cb();
    });
  };
  const sink: EventSink = {
    deliver(events) {
      if (closed) return;
      for (const e of events) {
        if (e.kind === 'available') fireAvailable();
        for (const cb of [...all]) cb(e);
        const subs = perJob.get(e.id);
        if (subs) for (const cb of [...subs]) cb(e);
      }
    },
    resync() {
      if (closed) return;
      fireAvailable();
      for (const cb of [...resyncs]) cb();
    },
  };
  const ensureStarted = (): void => {
    if (started || closed) return;
    started = true;
    transport.start(sink);
  };
  const pollMs = opts.pollMs ?? AVAILABLE_POLL_MS;
  const timer =
    pollMs > 0
      ? setInterval(() => {
          if (!started) return;
          transport.poke();
          if (available.size > 0) fireAvailable();
          if (!transport.watching) sink.resync();
        }, pollMs)
      : null;
  if (timer && opts.unref !== false) timer.unref();

  const add = <T>(set: Set<T>, cb: T): (() => void) => {
    ensureStarted();
    set.add(cb);
    return () => set.delete(cb);
  };

  return {
    onAvailable: (cb) => add(available, cb),
    onEvent: (cb) => add(all, cb),
    onResync: (cb) => add(resyncs, cb),
    onJob(id, cb) {
      ensureStarted();
      let subs = perJob.get(id);
      if (!subs) perJob.set(id, (subs = new Set()));
      subs.add(cb);
      return () => {
        subs.delete(cb);
        if (subs.size === 0 && perJob.get(id) === subs) perJob.delete(id);
      };
    },
    poke() {
      if (started) transport.poke();
    },
    own(event) {
      if (closed) return;
      // At once, not on the next tick as the database's events are: the claim's statement is then
      // made before the rest of the enqueuing request (its answer) runs. Once per tick: an
      // executor looks until its slots are full or nothing is left (a batch's enqueues need one).
      const tell = (cb: () => void) => {
        try {
          cb();
        } catch (err) {
          (opts.onListenerError ?? throwLater)(err);
        }
      };
      if (event.kind === 'available' && !ownAvailableThisTick) {
        ownAvailableThisTick = true;
        process.nextTick(() => (ownAvailableThisTick = false));
        for (const cb of [...available]) tell(cb);
      }
      const subs = perJob.get(event.id);
      if (subs) for (const cb of [...subs]) tell(() => cb(event));
    },
    get watching() {
      return transport.watching;
    },
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      available.clear();
      perJob.clear();
      all.clear();
      resyncs.clear();
      if (started) transport.close();
    },
  };
}
