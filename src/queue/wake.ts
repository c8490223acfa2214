import fs from 'node:fs';

// Wakes idle executors as soon as a job may be waiting, from any process, without a fast poll.
//
// Every commit to the SQLite database, from any process on the machine, appends to its `-wal`
// file (and a checkpoint writes the main file), so an inotify watch (fs.watch) on the data
// directory, filtered on those two names, fires within milliseconds of an enqueue made by another
// process. In-process enqueuers call notify() directly. A slow fallback poll covers lost events
// (inotify queue overflow, a filesystem that does not report changes, fs.watch unavailable).
//
// A wake means "look", not "there is a job": commits that are not enqueues (claims, heartbeats,
// our own writes) wake listeners too, and a claim that finds nothing is cheap. Nothing is
// debounced, since any delay is added latency; wakes within one tick are coalesced into one call.
//
// The event for the last WAL write can arrive a moment before the writer has published its commit
// (the wal-index update follows the write). A woken claimer still sees the job: the claim is an
// UPDATE, which waits for the write lock the committing process holds until it has published,
// and then begins again on the fresh snapshot.

export interface WakeSignalOptions {
  /** Directory holding the job database. */
  dir: string;
  /** File name of the job database inside `dir` (e.g. codexec.db). */
  dbFileName: string;
  /** Period of the fallback poll. Default 1000 ms; 0 disables it. */
  fallbackPollMs?: number;
  /** Do not let the watch and the poll keep the process alive. Default false. */
  unref?: boolean;
}

export interface WakeSignal {
  /** Calls `cb` on every wake; returns a function that unsubscribes it. */
  onWake(cb: () => void): () => void;
  /** Wakes this process's listeners now (after an enqueue in this process). */
  notify(): void;
  /** True while changes of the database file are watched (false: only the fallback poll). */
  readonly watching: boolean;
  close(): void;
}

export function createWakeSignal(opts: WakeSignalOptions): WakeSignal {
  const names = new Set([opts.dbFileName, `${opts.dbFileName}-wal`]);
  return createWakeHub(opts, (fire) => {
    let watcher: fs.FSWatcher | null = null;
    try {
      watcher = fs.watch(opts.dir, { persistent: !opts.unref }, (_event, filename) => {
        // Linux always gives the name; where a platform does not, any change is worth a look.
        if (filename === null || names.has(filename.toString())) fire();
      });
      watcher.on('error', () => {
        // The directory went away or the watch broke: the fallback poll still wakes listeners.
        watcher?.close();
        watcher = null;
      });
    } catch {
      // No inotify watches left (ENOSPC) or an unsupported filesystem: rely on the poll.
      watcher = null;
    }
    return {
      watching: () => watcher !== null,
      close() {
        watcher?.close();
        watcher = null;
      },
    };
  });
}

/** Where wakes come from: calls `fire` on each change it sees; `watching` is false while blind. */
export type WakeSource = (fire: () => void) => { watching(): boolean; close(): void };

/**
 * The part every wake signal shares: listeners, wakes of one tick coalesced into one call, the
 * fallback poll, notify() for this process's own writes. `source` says when the database changed
 * (an inotify watch for SQLite, LISTEN for PostgreSQL).
 */
export function createWakeHub(opts: { fallbackPollMs?: number; unref?: boolean }, source: WakeSource): WakeSignal {
  const listeners = new Set<() => void>();
  let pending = false;
  let closed = false;

  const fire = (): void => {
    if (pending || closed) return;
    pending = true;
    // Coalesces the wakes of one tick (a commit often yields several events).
    process.nextTick(() => {
      pending = false;
      if (closed) return;
      for (const cb of [...listeners]) cb();
    });
  };

  const src = source(fire);
  const pollMs = opts.fallbackPollMs ?? 1000;
  const timer = pollMs > 0 ? setInterval(fire, pollMs) : null;
  if (timer && opts.unref) timer.unref();

  return {
    onWake(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    notify: fire,
    get watching() {
      return src.watching();
    },
    close() {
      closed = true;
      listeners.clear();
      if (timer) clearInterval(timer);
      src.close();
    },
  };
}

/**
 * `task` made safe to call on every wake: runs never overlap, and calls that arrive while it runs
 * make it run once more after the current run (wakes coalesce). Errors go to `onError`; `after`
 * runs each time it goes idle.
 */
export function coalescing(task: () => Promise<void>, opts: { onError?: (err: unknown) => void; after?: () => void } = {}): () => void {
  let running = false;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again);
      } catch (err) {
        opts.onError?.(err);
      } finally {
        running = false;
        opts.after?.();
      }
    })();
  };
}
