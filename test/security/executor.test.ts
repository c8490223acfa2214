import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import type { LimitOverrides } from '../../src/domain/limits.js';
import { isTerminal } from '../../src/domain/states.js';
import { SqliteJobStore } from '../../src/queue/sqlite/sqlite-job-store.js';
import { createWakeSignal, type WakeSignal } from '../../src/queue/wake.js';
import { Executor } from '../../src/worker/executor.js';
import { InlineRunner } from '../../src/worker/runners.js';
import { IS_ROOT, makeHostTempDir, PY_PRELUDE, SKIP_MESSAGE, waitFor } from './helpers.js';
import { securitySuite } from './suite.js';

// A few attacks through the whole path a real submission takes: enqueued in a real SQLite job
// store, claimed by the Executor, run by the InlineRunner in the real sandbox, and recorded. The
// database the program attacks is the very one its job is stored in.

describe.skipIf(!IS_ROOT)(`attack through the executor${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();
  let dir: string;
  let store: SqliteJobStore;
  let wake: WakeSignal;
  let executor: Executor;

  beforeAll(() => {
    dir = makeHostTempDir('executor');
    store = SqliteJobStore.open(path.join(dir, 'codexec.db'));
    wake = createWakeSignal({ dir, dbFileName: 'codexec.db', unref: true });
    executor = new Executor({
      store,
      languages: s.env().registry,
      runner: new InlineRunner(s.env().host),
      wake,
      logger: pino({ level: 'silent' }),
      slots: 2,
      leaseMs: 30_000,
      retryBaseMs: 100,
    });
    executor.start();
  });

  afterAll(async () => {
    await executor?.stop(10_000);
    wake?.close();
    await store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function submit(language: string, sourceCode: string, limitOverrides: LimitOverrides = {}): Promise<ExecutionRecord> {
    const id = randomUUID();
    await store.enqueue({ id, sessionId: `sec-${id}`, language, sourceCode, stdin: '', expectedOutput: null, limitOverrides, maxAttempts: 1 });
    wake.notify();
    let record: ExecutionRecord | null = null;
    const done = await waitFor(() => {
      void store.get(id).then((r) => (record = r));
      return record !== null && isTerminal((record as ExecutionRecord).status);
    }, 60_000);
    expect(done, `execution ${id} finished`).toBe(true);
    return record!;
  }

  // The program looks for the job database by its absolute path (the real one, holding its own
  // job), reads the data directory, and tries to create a file there.
  it('the program cannot reach the job database it is stored in', async () => {
    const db = path.join(dir, 'codexec.db');
    const rec = await submit(
      'python',
      `${PY_PRELUDE}
out['db'] = attempt(lambda: open(${JSON.stringify(db)}, 'rb').read(16) and None)
out['wal'] = attempt(lambda: open(${JSON.stringify(`${db}-wal`)}, 'rb').read(16) and None)
out['dir'] = attempt(lambda: os.listdir(${JSON.stringify(dir)}) and None)
out['create'] = attempt(lambda: open(${JSON.stringify(path.join(dir, 'planted'))}, 'w').close())
report()
`,
    );
    expect(rec.status, JSON.stringify(rec.result)).toBe('COMPLETED');
    expect(JSON.parse(rec.result!.stdout.trim())).toEqual({ db: 'ENOENT', wal: 'ENOENT', dir: 'ENOENT', create: 'ENOENT' });
    expect(fs.existsSync(path.join(dir, 'planted'))).toBe(false);
  });

  // A fork bomb submitted as a job: recorded as a time-limit failure, the executor keeps working.
  it('a fork bomb is recorded as TIMEOUT and the executor goes on', async () => {
    const rec = await submit('python', 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n', { wallTimeMs: 2000 * s.slow() });
    expect(rec.status, JSON.stringify(rec.result)).toBe('TIMEOUT');
    expect(['wall_time_limit', 'cpu_time_limit']).toContain(rec.result!.failureReason);
    const next = await submit('javascript', 'console.log(6 * 7)\n');
    expect(next.status).toBe('COMPLETED');
    expect(next.result!.stdout).toBe('42\n');
  });

  // A memory bomb and an output flood submitted together (two slots): each gets its own limit's
  // failure reason.
  it('a memory bomb and an output flood at once are each recorded with their own limit', async () => {
    const [mem, flood] = await Promise.all([
      submit('javascript', 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));\n', { memoryBytes: 96 * 1024 * 1024, wallTimeMs: 10_000 * s.slow() }),
      submit('python', "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", { wallTimeMs: 20_000 }),
    ]);
    expect(mem.status, JSON.stringify(mem.result)).toBe('FAILED');
    expect(mem.result!.failureReason).toBe('memory_limit');
    expect(flood.status, JSON.stringify(flood.result)).toBe('FAILED');
    expect(flood.result!.failureReason).toBe('output_limit');
    expect(flood.result!.stdoutTruncated).toBe(true);
  });
});
