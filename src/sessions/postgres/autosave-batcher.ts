import { QueueUnavailableError } from '../../domain/errors.js';
import type { RunStatement } from './sql.js';

/** One autosave's parameters (SessionAutosave's, without the lifetimes). */
export interface AutosaveInput {
  id: string;
  language: string | null;
  sourceCode: Buffer | null;
  revision: number | null;
  ifMatchRevision: number | null;
  now: number;
  /** When not null, only a session of this owner is written. */
  owner: string | null;
}

interface Queued<Row> {
  input: AutosaveInput;
  resolve: (row: Row | null) => void;
  reject: (err: unknown) => void;
}

// Group commit for autosaves, as the SQLite store does per event-loop turn: autosaves that
// arrive while `maxInFlight` statements are already running wait, and go together in the next
// statement (SessionAutosaveBatch: one round trip, one commit, one WAL flush for up to
// `maxBatch` of them). At low load each autosave goes alone at once, so batching adds no wait;
// at high load it is what keeps a commit's flush from being paid once per autosave.
//
// A batch holds at most one autosave per session (the store's per-session mutex lets one at a
// time through), so the statement never updates a row twice. It skips rows another transaction
// has locked; those, and the refused ones, come back as null and the store sends them again
// alone (SessionAutosave), which waits for the lock, and reads why when it is refused.
export class AutosaveBatcher<Row extends { id: string }> {
  private queued: Queued<Row>[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: RunStatement,
    private readonly lifetimes: { idleTtlMs: number; retentionMs: number },
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
  ) {}

  /** The session's row after the autosave, or null when this batch did not apply it. */
  submit(input: AutosaveInput): Promise<Row | null> {
    return new Promise((resolve, reject) => {
      this.queued.push({ input, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queued.length > 0) {
      const batch = this.queued.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.send(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async send(batch: Queued<Row>[]): Promise<void> {
    const inputs = batch.map((q) => q.input);
    try {
      const { rows } = await this.run<Row>('SessionAutosaveBatch', {
        ids: inputs.map((i) => i.id),
        languages: inputs.map((i) => i.language),
        sourceCodes: inputs.map((i) => i.sourceCode),
        revisions: inputs.map((i) => i.revision),
        ifMatchRevisions: inputs.map((i) => i.ifMatchRevision),
        nows: inputs.map((i) => i.now),
        owners: inputs.map((i) => i.owner),
        ...this.lifetimes,
      });
      const applied = new Map(rows.map((r) => [r.id, r]));
      for (const q of batch) q.resolve(applied.get(q.input.id) ?? null);
    } catch (err) {
      // The database is away: every autosave of the batch fails with it. Any other error may be
      // one autosave's own: each is sent again alone, so only that one fails.
      if (err instanceof QueueUnavailableError) for (const q of batch) q.reject(err);
      else for (const q of batch) q.resolve(null);
    }
  }
}
