import type { CaseResult } from '../domain/execution.js';
import type { LiveEvent } from '../domain/live-events.js';
import type { OutputLog } from '../queue/output-log.js';

// The executor's side of live output: what one attempt of a run prints, and its test cases'
// starts and finishes, as events in the job queue (queue/output-log.ts), so a watcher on any
// process or host sees them. Nothing is written while nobody watches: the events are kept (the
// bytes the sandbox kept anyway, within the output caps) and written at once when a watcher
// appears, then in flushes at most FLUSH_MS apart. A run is never slowed or failed by this: a
// write that fails stops the recording (the stored result stays complete), and the last flush
// before the result is recorded waits at most CLOSE_WAIT_MS.

/** Longest an event waits before it is written, once someone watches. */
export const FLUSH_MS = 50;
/** Text per row at most (a big backlog becomes several rows; a reader's frame is at most one row's event). */
export const ROW_CHARS = 64 * 1024;
/** Longest the final flush may hold up recording the result. */
export const CLOSE_WAIT_MS = 2000;

type Stream = 'stdout' | 'stderr';
type Pending =
  | { type: 'output'; stream: Stream; case: number | null; chunk: Buffer }
  | { type: 'case_started'; case: number; name: string; hidden: boolean }
  | { type: 'case_finished'; case: number; result: CaseResult };

export interface RecorderOptions {
  log: OutputLog;
  executionId: string;
  attempt: number;
  /** The executor holding the lease: rows are written only while it still does. */
  owner: string;
  /** The run phase's output caps (the stored output's). */
  stdoutBytes: number;
  stderrBytes: number;
  watched: boolean;
  onError?: (err: unknown) => void;
  flushMs?: number;
}

export class LiveRecorder {
  private pending: Pending[] = [];
  private watched = false;
  private stopped = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly kept = new Map<string, number>();
  private readonly decoders = new Map<string, TextDecoder>();

  constructor(private readonly o: RecorderOptions) {
    if (o.watched) this.watch();
  }

  /** Output the sandbox kept, as it arrives; bytes beyond the caps are dropped here too. */
  output(stream: Stream, chunk: Buffer, caseIndex: number | null): void {
    if (this.closed || this.stopped || chunk.length === 0) return;
    const key = `${caseIndex}:${stream}`;
    const used = this.kept.get(key) ?? 0;
    const room = this.cap(stream) - used;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.kept.set(key, used + part.length);
    this.push({ type: 'output', stream, case: caseIndex, chunk: part });
  }

  caseStarted(index: number, name: string, hidden: boolean): void {
    this.push({ type: 'case_started', case: index, name, hidden });
  }

  caseFinished(index: number, result: CaseResult): void {
    this.push({ type: 'case_finished', case: index, result });
  }

  /** Someone watches: write everything so far now, and what follows as it comes. */
  watch(): void {
    if (this.watched || this.closed || this.stopped) return;
    this.watched = true;
    this.flushSoon(0);
  }

  /** The attempt is over: the last events are written (when watched) before the result is. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.watched || this.stopped) {
      this.pending = [];
      return;
    }
    const last = this.flush(true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), CLOSE_WAIT_MS)));
    if ((await Promise.race([last.then(() => 'done' as const), late])) === 'late') this.stopped = true;
    clearTimeout(timer);
  }

  private cap(stream: Stream): number {
    return stream === 'stdout' ? this.o.stdoutBytes : this.o.stderrBytes;
  }

  private push(p: Pending): void {
    if (this.closed || this.stopped) return;
    this.pending.push(p);
    if (this.watched) this.flushSoon(this.o.flushMs ?? FLUSH_MS);
  }

  private flushSoon(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush(false);
    }, ms);
  }

  /** Writes what is pending, after any write in progress (one at a time keeps the rows in order). */
  private flush(final: boolean): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (this.stopped) return;
      const events = this.toEvents(this.pending.splice(0), final);
      for (const row of rows(events)) {
        try {
          if (!(await this.o.log.append(this.o.executionId, this.o.attempt, this.o.owner, row))) {
            this.stopped = true; // the lease is no longer ours: whoever holds it now records
            return;
          }
        } catch (err) {
          this.stopped = true;
          this.o.onError?.(err);
          return;
        }
      }
    });
    return this.writing;
  }

  // Bytes become text per case and stream, a UTF-8 sequence split between chunks kept whole.
  // When a case (or, with `final`, the run) ends, a sequence left incomplete is U+FFFD, except at
  // the cap, where the stored output drops it too (sandbox/output.ts).
  private toEvents(items: Pending[], final: boolean): LiveEvent[] {
    const out: LiveEvent[] = [];
    const text = (stream: Stream, caseIndex: number | null, s: string) => {
      if (s === '') return;
      const prev = out[out.length - 1];
      if (prev?.type === 'output' && prev.stream === stream && prev.case === caseIndex) prev.text += s;
      else out.push({ type: 'output', stream, case: caseIndex, text: s });
    };
    const end = (caseIndex: number | null) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        const key = `${caseIndex}:${stream}`;
        const d = this.decoders.get(key);
        if (!d) continue;
        this.decoders.delete(key);
        const rest = d.decode();
        if ((this.kept.get(key) ?? 0) < this.cap(stream)) text(stream, caseIndex, rest);
      }
    };
    for (const p of items) {
      if (p.type === 'output') {
        const key = `${p.case}:${p.stream}`;
        let d = this.decoders.get(key);
        if (!d) this.decoders.set(key, (d = new TextDecoder('utf-8')));
        text(p.stream, p.case, d.decode(p.chunk, { stream: true }));
      } else {
        if (p.type === 'case_finished') end(p.case);
        out.push(p);
      }
    }
    if (final) for (const key of [...this.decoders.keys()]) end(key.startsWith('null:') ? null : Number(key.split(':')[0]));
    return out;
  }
}

/** Events in rows of at most ROW_CHARS of text; an output event longer than that is split. */
function* rows(events: LiveEvent[]): Generator<LiveEvent[]> {
  let row: LiveEvent[] = [];
  let size = 0;
  for (const e of events) {
    if (e.type !== 'output') {
      row.push(e);
      size += 256;
    } else {
      for (let i = 0; i < e.text.length; ) {
        let n = Math.min(ROW_CHARS - size, e.text.length - i);
        // Never split a surrogate pair between two events.
        if (n > 0 && i + n < e.text.length && isHighSurrogate(e.text.charCodeAt(i + n - 1))) n--;
        if (n <= 0) {
          yield row;
          row = [];
          size = 0;
          continue;
        }
        row.push({ ...e, text: e.text.slice(i, i + n) });
        size += n;
        i += n;
      }
    }
    if (size >= ROW_CHARS) {
      yield row;
      row = [];
      size = 0;
    }
  }
  if (row.length > 0) yield row;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
