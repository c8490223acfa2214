import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { threadEntry } from '../threads/entry.js';
import type { CheckpointCommand, CheckpointReport, CheckpointThreadData } from './checkpoint-thread.js';

// Checkpoints of sessions.db run on a thread of their own (checkpoint-thread.ts), never on the
// event loop. SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1,000
// pages, and its cost grows with the database: with 1,000,000 sessions stored, each autosave
// dirties pages all over the file, the checkpoint writes ~1,000 scattered pages and syncs them,
// and the event loop stood still ~20 ms every ~500 autosaves (half of the time in a benchmark of
// random upserts; with synchronous=OFF, no sync, the stalls went away, so it is the sync).
//
// A checkpoint beside the writer never finishes under a steady load: the frames committed while it
// runs are not copied, and SQLite only starts the WAL over from its beginning when a write finds
// every frame copied. So the WAL would grow as long as the load lasts. The thread checkpoints
// again at once while more than `tailFrames` are left, so little is ever left; when the WAL holds
// `capFrames`, the owner holds its writes (they wait in its queue) while the thread copies that
// little, and the next commit starts the WAL over. That pause costs one checkpoint of at most
// `tailFrames` and what was committed since, once per `capFrames` written.
//
// If the thread fails, the owner's connection goes back to SQLite's automatic checkpoint.

export interface WalCheckpointerOptions {
  file: string;
  busyTimeoutMs: number;
  /** The WAL's size, in frames (pages), at which writes are held until it is copied. */
  capFrames: number;
  /** Checkpoint again at once while more than this is left to copy after one. */
  tailFrames: number;
  everyMs: number;
  /** Called when writes are held (true) and when they may go on (false). */
  onHold: (held: boolean) => void;
  /** Called once if the thread fails: its owner must checkpoint by itself from then on. */
  onFailure: (err: Error) => void;
}

export class WalCheckpointer {
  private readonly worker: Worker;
  // Opened here and closed only after every connection of this store is: closing a descriptor of
  // a file drops the POSIX locks this process holds on it, SQLite's included.
  private readonly fileFd: number;
  private holding = false;
  private stopped = false;
  private closed = false;

  constructor(private readonly opts: WalCheckpointerOptions) {
    const { file, busyTimeoutMs, everyMs, capFrames, tailFrames } = opts;
    this.fileFd = fs.openSync(file, 'r');
    const data: CheckpointThreadData = { file, fileFd: this.fileFd, busyTimeoutMs, everyMs, capFrames, tailFrames };
    const { filename, execArgv } = threadEntry(import.meta.url, 'checkpoint-thread');
    try {
      this.worker = new Worker(filename, { execArgv, workerData: data });
    } catch (err) {
      fs.closeSync(this.fileFd);
      throw err;
    }
    // A checkpointer never keeps the process alive; close() stops it in order.
    this.worker.unref();
    this.worker.on('message', (report: CheckpointReport) => this.onReport(report));
    // An error thrown in the thread arrives as a copy, which may have lost its class and message.
    this.worker.once('error', (err: unknown) => this.fail(new Error(`the sessions checkpoint thread failed: ${describe(err)}`)));
    this.worker.once('exit', (code) => this.fail(new Error(`the sessions checkpoint thread exited (code ${code})`)));
  }

  /** Whether writes are held now. */
  get held(): boolean {
    return this.holding;
  }

  private onReport(report: CheckpointReport): void {
    // A report on its way while close() began: the owner's last commit must not be held.
    if (this.stopped) return;
    if (report === 'caught-up') return this.setHold(false);
    this.setHold(true);
    this.command('catch-up');
  }

  private setHold(held: boolean): void {
    if (this.holding === held) return;
    this.holding = held;
    this.opts.onHold(held);
  }

  private command(c: CheckpointCommand): void {
    this.worker.postMessage(c);
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.setHold(false);
    this.opts.onFailure(err);
  }

  /**
   * Ends the thread after its connection is closed, then calls `closeOwner` (which closes the
   * owner's connection to the file), then closes the descriptor. Writes are no longer held.
   */
  async close(closeOwner: () => void): Promise<void> {
    if (this.closed) return closeOwner();
    this.closed = true;
    if (!this.stopped) {
      this.stopped = true;
      this.setHold(false);
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      // Kept alive until the thread has closed its connection: a store that closes last in its
      // process would otherwise see the process exit with this wait pending (exit code 13), its
      // own connection never closed.
      this.worker.ref();
      this.command('stop');
      await exited;
    }
    try {
      closeOwner();
    } finally {
      fs.closeSync(this.fileFd);
    }
  }
}

function describe(err: unknown): string {
  const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
  return [code, message].filter((part) => typeof part === 'string' && part !== '').join(': ') || String(err);
}
