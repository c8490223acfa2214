import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { EventSink, EventTransport, JobEvent } from '../events.js';
import { EVENTS_AFTER, EVENTS_MAX_SEQ } from './sql.js';

// Events of the job queue on SQLite, from every process on the machine: the triggers of the job
// table append each status change to `job_events`; this reads what was appended after its
// cursor whenever the database changes.
//
// Every commit, from any process, appends to the `-wal` file (a checkpoint writes the main file),
// so an inotify watch (fs.watch) on the data directory, filtered on those two names, fires within
// milliseconds; this process's own commits poke it directly. The read is one indexed range scan
// (usually empty: heartbeats and lease renewals commit without events). The event for the last
// WAL write can arrive a moment before the writer has published its commit; the wake hub's
// periodic poke (events.ts) reads again within a second, and a claim woken early waits on the
// write lock anyway.

const BATCH = 1000;

export function sqliteEventTransport(db: Database.Database, file: string): EventTransport {
  const after = db.prepare(EVENTS_AFTER);
  const maxSeq = db.prepare(EVENTS_MAX_SEQ);
  const names = new Set([path.basename(file), `${path.basename(file)}-wal`]);
  let cursor = 0;
  let sink: EventSink | null = null;
  let watcher: fs.FSWatcher | null = null;
  let pending = false;
  let closed = false;

  const read = (): void => {
    pending = false;
    if (closed || !sink) return;
    for (;;) {
      let rows: { seq: number; kind: JobEvent['kind']; id: string }[];
      try {
        rows = after.all({ cursor, limit: BATCH }) as typeof rows;
      } catch {
        // The database is busy being closed or rebuilt: the next poke reads again.
        return;
      }
      if (rows.length === 0) return;
      cursor = rows[rows.length - 1]!.seq;
      sink.deliver(rows.map((r) => ({ kind: r.kind, id: r.id })));
      if (rows.length < BATCH) return;
    }
  };
  const poke = (): void => {
    if (pending || closed || !sink) return;
    pending = true;
    process.nextTick(read);
  };

  return {
    start(s) {
      sink = s;
      cursor = (maxSeq.get() as { seq: number }).seq;
      if (file === ':memory:') return;
      try {
        watcher = fs.watch(path.dirname(path.resolve(file)), { persistent: false }, (_event, name) => {
          // Linux always gives the name; where a platform does not, any change is worth a look.
          if (name === null || names.has(name.toString())) poke();
        });
        watcher.on('error', () => {
          // The directory went away or the watch broke: the periodic poke still reads.
          watcher?.close();
          watcher = null;
        });
      } catch {
        // No inotify watches left (ENOSPC) or an unsupported filesystem: rely on the poll.
        watcher = null;
      }
    },
    poke,
    get watching() {
      return watcher !== null || file === ':memory:';
    },
    close() {
      closed = true;
      watcher?.close();
      watcher = null;
    },
  };
}
