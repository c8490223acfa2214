import type { ExecutionRecord } from '../domain/execution.js';
import type { LiveEvent } from '../domain/live-events.js';
import { isTerminal } from '../domain/states.js';
import { coalescing } from '../queue/coalescing.js';
import type { JobStore } from '../queue/job-store.js';
import { sseFrame, type SseReader } from './sse-reader.js';
import { eventsFromResult } from './synthesize.js';

// Everything one process shows the watchers of one execution, read once for all of them: the
// job's state (re-read on its queue events), the output rows its executor writes, and at the end
// the result. Rows are read after the lowest position among the watchers that can take more (a
// watcher behind its buffer cap is left out until it drains, sse-reader.ts): 1,000 watchers
// keeping up cost one read per flush, and a slow one costs reads only as fast as it reads. The
// tail keeps the job watched (queue/output-log.ts) while it has watchers and the job is not
// finished, so the executor, wherever it runs, records the output.
//
// Order: each step reads the job, then the rows. The executor writes its last rows before it
// records the result, so rows read after a terminal job is seen are all of them; each watcher
// gets the result once it has every row, then its stream ends.

/** How the API shows what the tail sends (api/live-format.ts): the JSON of each event. */
export interface LiveFormat {
  state(e: ExecutionRecord): unknown;
  event(ev: LiveEvent, attempt: number, e: ExecutionRecord): { event: string; data: unknown };
  result(e: ExecutionRecord): unknown;
}

export interface TailOptions {
  /** A watch lasts this long unless renewed (every third of it). */
  watchTtlMs: number;
  onError?: (err: unknown) => void;
}

// Rows are at most ROW_CHARS (64 Ki characters) of text each: a page is a few MiB at most.
const PAGE_ROWS = 16;
const RETRY_MS = 1000;

export class ExecutionTail {
  private readonly readers = new Set<SseReader>();
  private joining: SseReader[] = [];
  private job: ExecutionRecord | null = null;
  private needJob = true;
  private watchStarted = false;
  private closed = false;
  private readonly attemptsWithRows = new Set<number>();
  /** The highest row read so far. */
  private head = 0;
  /** The end's frames (output from the stored result when none was recorded, then the result), once terminal. */
  private finals: { events: string[]; result: string } | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly off: (() => void)[];
  private readonly pump = coalescing(() => this.step(), {
    onError: (err) => {
      // The database failed a read: the watchers wait, and the step is tried again.
      this.o.onError?.(err);
      this.needJob = true;
      if (!this.closed && !this.retryTimer) this.retryTimer = setTimeout(() => ((this.retryTimer = null), this.pump()), RETRY_MS);
    },
  });

  constructor(
    readonly id: string,
    private readonly jobs: JobStore,
    private readonly format: LiveFormat,
    private readonly o: TailOptions,
    private readonly onClosed: (tail: ExecutionTail) => void,
  ) {
    this.off = [
      jobs.events.onJob(id, (e) => {
        if (e.kind === 'watch' || e.kind === 'webhook') return;
        if (e.kind !== 'output') this.needJob = true;
        this.pump();
      }),
      jobs.events.onResync(() => {
        this.needJob = true;
        this.pump();
      }),
    ];
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Something changed for a watcher (it drained its buffer): look again. */
  wake(): void {
    this.pump();
  }

  /** A new watcher: it gets the state, the rows after its cursor, and what follows. */
  add(reader: SseReader): void {
    this.joining.push(reader);
    this.pump();
  }

  remove(reader: SseReader): void {
    this.readers.delete(reader);
    this.joining = this.joining.filter((r) => r !== reader);
    if (this.readers.size === 0 && this.joining.length === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.off) off();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const r of [...this.readers, ...this.joining]) r.end();
    this.onClosed(this);
  }

  private async step(): Promise<void> {
    if (this.closed) return;
    // Watchers that joined during the last step start here, so each gets every row after its cursor in order.
    for (const r of this.joining.splice(0)) if (!r.isClosed) this.readers.add(r);
    if (!this.watchStarted) await this.startWatch();
    if (this.needJob || !this.job) {
      this.needJob = false;
      this.job = await this.jobs.get(this.id);
    }
    const job = this.job;
    if (!job) return this.close(); // pruned meanwhile
    const key = `${job.status}:${job.attempt}`;
    const state = sseFrame('state', this.format.state(job));
    for (const r of this.readers) if (r.stateKey !== key && r.send(state)) r.stateKey = key;
    await this.readRows(job);
    if (isTerminal(job.status)) await this.finish(job);
  }

  private async startWatch(): Promise<void> {
    this.watchStarted = true;
    const watch = () =>
      this.jobs.output.watch(this.id, Date.now() + this.o.watchTtlMs).then(
        (active) => {
          if (!active && this.renewTimer) clearInterval(this.renewTimer);
        },
        (err: unknown) => this.o.onError?.(err),
      );
    await watch();
    if (!this.closed) {
      this.renewTimer = setInterval(() => void watch(), Math.max(1000, Math.floor(this.o.watchTtlMs / 3)));
      this.renewTimer.unref();
    }
  }

  private async readRows(job: ExecutionRecord): Promise<void> {
    for (;;) {
      const ready = [...this.readers].filter((r) => !r.isBehind);
      if (ready.length === 0) return;
      const after = Math.min(...ready.map((r) => r.afterSeq));
      const rows = await this.jobs.output.after(this.id, after, PAGE_ROWS);
      for (const row of rows) {
        this.attemptsWithRows.add(row.attempt);
        this.head = Math.max(this.head, row.seq);
        const frames = row.events.map((ev, i) => {
          const f = this.format.event(ev, row.attempt, job);
          return sseFrame(f.event, f.data, `${row.seq}.${i}`);
        });
        for (const r of this.readers) if (!r.isBehind) r.sendRow(row.seq, frames);
      }
      if (rows.length < PAGE_ROWS) return;
    }
  }

  // The end, for each watcher that has every row: the output of an attempt that recorded none
  // comes from its result (ids end.<k>), then the result itself, then its stream ends. A watcher
  // still behind gets them when it has caught up.
  private async finish(job: ExecutionRecord): Promise<void> {
    if (!this.finals) {
      const recorded = this.attemptsWithRows.has(job.attempt) || (job.attempt > 0 && (await this.jobs.output.hasAttempt(this.id, job.attempt)));
      const events = recorded
        ? []
        : eventsFromResult(job).map((ev, k) => {
            const f = this.format.event(ev, job.attempt, job);
            return sseFrame(f.event, f.data, `end.${k}`);
          });
      this.finals = { events, result: sseFrame('result', this.format.result(job)) };
    }
    const { events, result } = this.finals;
    for (const r of [...this.readers]) {
      if (r.isBehind || !r.caughtUp(this.head)) continue;
      while (r.endIdx + 1 < events.length && r.send(events[r.endIdx + 1]!)) r.endIdx++;
      if (r.endIdx + 1 === events.length && r.send(result)) r.end();
    }
  }
}
