import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import { isTerminal } from '../../src/domain/states.js';
import { loadConfig } from '../../src/config/load.js';
import { Executor } from '../../src/executor/executor.js';
import { sandboxRunner } from '../../src/executor/open-sandbox.js';
import { submitRun } from '../../src/executions/submit.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { IS_ROOT, makeHostTempDir, PY_PRELUDE, SKIP_MESSAGE, waitFor } from './helpers.js';
import { securitySuite } from './suite.js';

// A few attacks through the whole path a real submission takes: enqueued in a real SQLite job
// store, claimed by the Executor, run by runSandbox in the real sandbox, and recorded. The
// database the program attacks is the very one its job is stored in.

describe.skipIf(!IS_ROOT)(`attack through the executor${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();
  let dir: string;
  let store: JobQueue;
  let executor: Executor;

  beforeAll(() => {
    dir = makeHostTempDir('executor');
    store = openSqliteQueue(path.join(dir, 'codexec.db'));
    executor = new Executor({
      store,
      sandbox: sandboxRunner(s.env().host),
      logger: pino({ level: 'silent' }),
      slots: 2,
      leaseMs: 30_000,
      retryBaseMs: 100,
    });
    executor.start();
  });

  afterAll(async () => {
    await executor?.stop(10_000);
    await store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function submit(language: string, sourceCode: string, limits: { timeLimitMs?: number; memoryLimitBytes?: number } = {}): Promise<ExecutionRecord> {
    const config = loadConfig({}, { maxAttempts: 1 });
    const { execution } = await submitRun({ config, jobs: store, languages: s.env().registry }, { source: { language, sourceCode }, ...limits });
    const id = execution.id;
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
    const rec = await submit('python', 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n', { timeLimitMs: 2000 * s.slow() });
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
      submit('javascript', 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));\n', { memoryLimitBytes: 96 * 1024 * 1024, timeLimitMs: 10_000 * s.slow() }),
      submit('python', "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", { timeLimitMs: 20_000 }),
    ]);
    expect(mem.status, JSON.stringify(mem.result)).toBe('FAILED');
    expect(mem.result!.failureReason).toBe('memory_limit');
    expect(flood.status, JSON.stringify(flood.result)).toBe('FAILED');
    expect(flood.result!.failureReason).toBe('output_limit');
    expect(flood.result!.stdoutTruncated).toBe(true);
  });
});
