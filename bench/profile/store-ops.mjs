// Cost of each job-store operation on the hot path (SQLite, WAL, synchronous=NORMAL, a file in a
// temp dir), one at a time, with and without a wake-signal watcher on the directory (the serve
// process has one: every commit also costs an inotify event and a claim attempt when idle), and
// with SQLite's automatic WAL checkpoint turned off (to see what the checkpoints, which fsync, cost
// the requests that happen to trigger them).
//
//   node bench/profile/store-ops.mjs [COUNT=2000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { importDist } from '../lib/sandbox.mjs';
import { summarize, table } from '../lib/stats.mjs';

const n = Number(process.argv[2] ?? 2000);
if (!Number.isInteger(n) || n <= 0 || n > 100_000) throw new Error('usage: store-ops.mjs [COUNT]');
const { SqliteJobStore } = await importDist('queue/sqlite/sqlite-job-store.js');
const { createWakeSignal } = await importDist('queue/wake.js');

const rows = [];
for (const [watched, noCheckpoint] of [[false, false], [true, false], [false, true]]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-store-'));
  const store = SqliteJobStore.open(path.join(dir, 'codexec.db'));
  // An experiment only: the store's connection is private to it.
  if (noCheckpoint) store.db.pragma('wal_autocheckpoint = 0');
  let wakes = 0;
  const wake = watched ? createWakeSignal({ dir, dbFileName: 'codexec.db', fallbackPollMs: 0 }) : null;
  wake?.onWake(() => wakes++);
  const t = { enqueue: [], claim: [], get: [], finish: [], 'claim (queue empty)': [] };
  const time = async (k, f) => {
    const t0 = performance.now();
    const r = await f();
    t[k].push(performance.now() - t0);
    return r;
  };
  const result = { stdout: 'hi\n', stderr: '', exitCode: 0, signal: null, failureReason: null, verdict: null, feedback: 'ok', executionTimeMs: 10, cpuTimeMs: 10, memoryPeakKb: 3000, compileOutput: null, compileTimeMs: null, stdoutTruncated: false, stderrTruncated: false, outputNotUtf8: false, warnings: [] };
  try {
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      await time('enqueue', () =>
        store.enqueue(
          { id, sessionId: randomUUID(), language: 'python', sourceCode: 'print("hi")\n', stdin: '', expectedOutput: null, limitOverrides: {}, maxAttempts: 3 },
          { maxInFlightPerSession: 1, maxQueueDepth: 5000 },
        ),
      );
      const job = await time('claim', () => store.claim('bench', 15_000));
      await time('get', () => store.get(job.id));
      await time('finish', () => store.finish(job.id, 'bench', 'COMPLETED', result));
      await time('claim (queue empty)', () => store.claim('bench', 15_000));
      // Let inotify events arrive, as they would between requests.
      if (watched && i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    wake?.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const [k, xs] of Object.entries(t)) {
    const s = summarize(xs);
    rows.push([`${k}${watched ? ' (dir watched)' : ''}${noCheckpoint ? ' (no autocheckpoint)' : ''}`, s.n, s.median * 1000, s.p90 * 1000, s.p99 * 1000]);
  }
  if (watched) rows.push([`wake events delivered for ${n} x 2 commits`, wakes, '-', '-', '-']);
}
console.log(table(['operation', 'n', 'median µs', 'p90 µs', 'p99 µs'], rows));
