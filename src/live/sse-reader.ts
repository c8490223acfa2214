import type { ServerResponse } from 'node:http';

// One Server-Sent Events connection, and how much of it waits in this process. Frames are written
// without waiting for the client; once more than the cap waits (the client reads slower than the
// run prints, or not at all), the reader is "behind": it is sent nothing more, and its position
// stays where it stopped. When its socket drains it catches up from the stored rows at its own
// pace (tail.ts); if it is still behind one heartbeat later, it is disconnected (it can come back
// with Last-Event-ID). So a reader holds at most its cap and one frame in memory, and no reader,
// however slow, holds back the run or the other readers.

/** Where a reader resumes: after row `afterSeq`, skipping events up to `skip.idx` of row `skip.seq`, then final events after `endIdx`. */
export interface Cursor {
  afterSeq: number;
  skip: { seq: number; idx: number } | null;
  /** Index of the last final (synthesized) event the client has, -1 for none. */
  endIdx: number;
}

/** Parses a Last-Event-ID ("<row>.<event>" or "end.<k>"); null when there is none; throws on a malformed one. */
export function parseLastEventId(raw: string | undefined): Cursor | null {
  if (raw === undefined || raw === '') return null;
  let m = /^(\d{1,15})\.(\d{1,6})$/.exec(raw);
  if (m) return { afterSeq: Number(m[1]) - 1, skip: { seq: Number(m[1]), idx: Number(m[2]) }, endIdx: -1 };
  m = /^end\.(\d{1,6})$/.exec(raw);
  if (m) return { afterSeq: Number.MAX_SAFE_INTEGER, skip: null, endIdx: Number(m[1]) };
  throw new Error(`Last-Event-ID ${JSON.stringify(raw.slice(0, 40))} is not one this server sent`);
}

/** One SSE frame. JSON.stringify escapes CR and LF, so the data is one line. */
export function sseFrame(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const HEARTBEAT_FRAME = ': heartbeat\n\n';

export class SseReader {
  afterSeq: number;
  skip: Cursor['skip'];
  endIdx: number;
  /** The last state sent ("STATUS:attempt"), to send each change once. */
  stateKey: string | null = null;
  private closed = false;
  private behindSince: number | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferBytes: number,
    cursor: Cursor | null,
    private readonly on: { gone: (reader: SseReader, why: 'closed' | 'dropped') => void; drained: () => void },
  ) {
    this.afterSeq = cursor?.afterSeq ?? 0;
    this.skip = cursor?.skip ?? null;
    this.endIdx = cursor?.endIdx ?? -1;
    res.on('close', () => this.gone('closed'));
    res.on('drain', () => {
      if (this.behindSince === null || this.closed) return;
      this.behindSince = null;
      this.on.drained();
    });
  }

  /** Sends the status line and headers (no compression or proxy buffering: events must flow). */
  open(): void {
    if (this.res.destroyed) return this.gone('closed');
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    this.res.write('retry: 1000\n\n');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** More than the cap waits for the client: nothing more is sent until it drains. */
  get isBehind(): boolean {
    return this.behindSince !== null;
  }

  /** Has every row up to `head` (and no row half sent). */
  caughtUp(head: number): boolean {
    return this.skip === null && this.afterSeq >= head;
  }

  /** Writes a frame, unless the reader is behind (false: not sent). */
  send(frame: string): boolean {
    if (this.closed || this.behindSince !== null) return false;
    this.res.write(frame);
    if (this.res.writableLength > this.maxBufferBytes) this.behindSince = Date.now();
    return true;
  }

  /** The next row after afterSeq: sends the frames it has not had, as far as it can take them. */
  sendRow(seq: number, frames: string[]): void {
    if (seq <= this.afterSeq || this.closed) return;
    const from = this.skip?.seq === seq ? this.skip.idx + 1 : 0;
    for (let i = from; i < frames.length; i++) {
      if (!this.send(frames[i]!)) {
        // Stopped inside the row: resume at frame i of it.
        this.afterSeq = seq - 1;
        this.skip = i > 0 ? { seq, idx: i - 1 } : null;
        return;
      }
    }
    this.afterSeq = seq;
    this.skip = null;
  }

  /** The heartbeat: a comment to a reader that keeps up; a reader behind for a whole interval is disconnected. */
  tick(intervalMs: number, now = Date.now()): void {
    if (this.behindSince === null) this.send(HEARTBEAT_FRAME);
    else if (now - this.behindSince >= intervalMs) this.drop();
  }

  drop(): void {
    if (this.closed) return;
    this.gone('dropped');
    this.res.destroy();
  }

  end(): void {
    if (this.closed) return;
    this.res.end();
    this.gone('closed');
  }

  private gone(why: 'closed' | 'dropped'): void {
    if (this.closed) return;
    this.closed = true;
    this.on.gone(this, why);
  }
}
