import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

// Entry of the thread that checkpoints sessions.db (wal-checkpointer.ts says why a thread, and
// why writes are sometimes held). It has a connection of its own to the file and copies the WAL
// into the database with PASSIVE checkpoints, which never wait for the main thread's readers or
// writers: every `everyMs`, or at once while more than `tailFrames` are left to copy after one.
// It syncs the database file after each checkpoint that copied something. Once the WAL holds
// `capFrames` and a checkpoint right after a sync left at most `tailFrames` (or the WAL holds
// twice `capFrames`), it tells the main thread, which holds its writes and asks it to copy the
// rest.
//
// Why it syncs the database itself: SQLite syncs it only at the end of a checkpoint that copied
// every frame, which under load is only the one during the hold. That sync then wrote every page
// copied since the WAL started over: 86-106 ms with 1,000,000 sessions stored (perf trace), and
// a sync of the pages copied since the WAL reached the cap still held writes 96-160 ms in a
// benchmark of the store alone. Synced as it goes, the hold only copies and syncs a few pages.

export interface CheckpointThreadData {
  file: string;
  /** A descriptor of `file` open in this process, to sync it (the main thread closes it). */
  fileFd: number;
  busyTimeoutMs: number;
  everyMs: number;
  capFrames: number;
  tailFrames: number;
}

/** To the thread: copy what is left and answer `caught-up`; or close and end. */
export type CheckpointCommand = 'catch-up' | 'stop';

/** From the thread: hold writes (`wal-full`), or they may go on (`caught-up`). */
export type CheckpointReport = 'wal-full' | 'caught-up';

const port = parentPort;
if (port === null) throw new Error('checkpoint-thread runs as a worker thread');
const { file, fileFd, busyTimeoutMs, everyMs, capFrames, tailFrames } = workerData as CheckpointThreadData;
const db = new Database(file, { timeout: busyTimeoutMs, fileMustExist: true });
// The checkpoint's syncs follow this connection's setting: NORMAL syncs the WAL before copying it
// and the database after, so the WAL is only ever reused once its pages are on disk.
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

/**
 * The WAL's frames, and how many of them are left to copy, after one PASSIVE checkpoint, which
 * then syncs the database file if it copied anything. When another connection is checkpointing
 * (a store closing, a second store on the file in a test), SQLite answers busy = 1 and -1 frames
 * rather than an error: nothing copied this time.
 */
function checkpoint(): { walFrames: number; leftFrames: number } {
  const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
  if (row === undefined || row.busy !== 0) return { walFrames: 0, leftFrames: 0 };
  // Frames copied count from where the WAL last started over.
  if (row.checkpointed !== syncedFrames) {
    if (row.checkpointed > 0) fs.fdatasyncSync(fileFd);
    syncedFrames = row.checkpointed;
  }
  return { walFrames: row.log, leftFrames: row.log - row.checkpointed };
}

let syncedFrames = 0;
let timer: NodeJS.Timeout | undefined;

function tick(): void {
  let { walFrames, leftFrames } = checkpoint();
  if (walFrames >= capFrames) {
    // Once more: what was committed during that sync, copied and synced in turn.
    ({ walFrames, leftFrames } = checkpoint());
    if (leftFrames <= tailFrames || walFrames >= 2 * capFrames) {
      port?.postMessage('wal-full' satisfies CheckpointReport);
      return; // the next tick is after the catch-up
    }
  }
  timer = setTimeout(tick, leftFrames > tailFrames ? 0 : everyMs);
}

port.on('message', (command: CheckpointCommand) => {
  if (command === 'catch-up') {
    checkpoint();
    port.postMessage('caught-up' satisfies CheckpointReport);
    timer = setTimeout(tick, everyMs);
    return;
  }
  clearTimeout(timer);
  db.close();
  port.close();
});
timer = setTimeout(tick, everyMs);
