import type { ServerResponse } from 'node:http';
import type { JobStore } from '../queue/job-store.js';
import { SseReader, type Cursor } from './sse-reader.js';
import { ExecutionTail, type LiveFormat } from './tail.js';

// The live-output streams of one API process: one tail per watched execution (tail.ts), shared
// by all its watchers; one heartbeat timer for every stream; a cap on streams open at once.

export interface HubOptions {
  heartbeatMs: number;
  /** A watcher holding more unsent bytes than this is dropped. */
  readerBufferBytes: number;
  maxReaders: number;
  /** Default 30 s. */
  watchTtlMs?: number;
  onError?: (err: unknown) => void;
}

export interface HubStats {
  readers: number;
  executions: number;
  dropped: number;
}

export class LiveHub {
  private readonly tails = new Map<string, ExecutionTail>();
  private readonly readers = new Set<SseReader>();
  private heartbeat: NodeJS.Timeout | null = null;
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly format: LiveFormat,
    private readonly o: HubOptions,
  ) {}

  /** No room for another stream (or shutting down). */
  get full(): boolean {
    return this.closed || this.readers.size >= this.o.maxReaders;
  }

  stats(): HubStats {
    return { readers: this.readers.size, executions: this.tails.size, dropped: this.dropped };
  }

  /** Starts the event stream of execution `id` on `res` (the caller checked that it exists). */
  attach(id: string, res: ServerResponse, cursor: Cursor | null): SseReader {
    let tail: ExecutionTail | null = null;
    const reader = new SseReader(res, this.o.readerBufferBytes, cursor, {
      gone: (r, why) => {
        if (why === 'dropped') this.dropped++;
        this.readers.delete(r);
        tail?.remove(r);
        if (this.readers.size === 0 && this.heartbeat) {
          clearInterval(this.heartbeat);
          this.heartbeat = null;
        }
      },
      drained: () => tail?.wake(),
    });
    reader.open();
    if (reader.isClosed) return reader; // the client left before its stream began
    this.readers.add(reader);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const r of [...this.readers]) r.tick(this.o.heartbeatMs);
      }, this.o.heartbeatMs);
      this.heartbeat.unref();
    }
    tail = this.tails.get(id) ?? null;
    if (!tail || tail.isClosed) {
      const t = new ExecutionTail(id, this.jobs, this.format, { watchTtlMs: this.o.watchTtlMs ?? 30_000, onError: this.o.onError }, () => {
        if (this.tails.get(id) === t) this.tails.delete(id);
      });
      this.tails.set(id, (tail = t));
    }
    tail.add(reader);
    return reader;
  }

  /** Shutdown: every stream ends now (clients reconnect elsewhere with Last-Event-ID). */
  close(): void {
    this.closed = true;
    for (const t of [...this.tails.values()]) t.close();
    for (const r of [...this.readers]) r.end();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
