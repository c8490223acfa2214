import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, startServe, tempDir } from '../cli/helpers.js';

// docs/operations.md, "Backup": stop the service, copy the data directory, start it. Done here
// with a real `codexec serve` (API only, so no root is needed): what was accepted before the stop
// is all in the copy.

const started: ResultPromise[] = [];

// An object around the process: a ResultPromise returned by an async function would be awaited.
async function serveOn(dataDir: string, port: number): Promise<{ proc: ResultPromise }> {
  const proc = (await startServe(cleanEnv({ CODEXEC_DATA_DIR: dataDir, CODEXEC_EXECUTORS: '0' }), port)).proc;
  started.push(proc);
  return { proc };
}

describe('backup: stop, copy the data directory, start', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('codexec-backup-');
  });
  afterAll(async () => {
    // Whatever happened to the test, no server outlives it.
    for (const proc of started) if (proc.exitCode === null) proc.kill('SIGKILL');
    await Promise.all(started);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the copy holds every session and execution', async () => {
    const live = path.join(dir, 'live');
    const copy = path.join(dir, 'backup');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let { proc: serve } = await serveOn(live, port);
    const session = await (await fetch(`${base}/code-sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python', source_code: 'print(42)\n' }) })).json();
    const run = await (await fetch(`${base}/code-sessions/${session.session_id}/run`, { method: 'POST' })).json();
    expect(run.status).toBe('QUEUED');

    serve.kill('SIGTERM'); // systemctl stop codexec
    expect((await serve).exitCode).toBe(0);
    await execa('cp', ['-a', live, copy]); // cp -a /var/lib/codexec /var/backups/codexec-DATE
    fs.rmSync(live, { recursive: true, force: true }); // the original is lost

    ({ proc: serve } = await serveOn(copy, port)); // restore: start on the copy
    try {
      const back = await (await fetch(`${base}/code-sessions/${session.session_id}`)).json();
      expect(back.source_code).toBe('print(42)\n');
      const execution = await (await fetch(`${base}/executions/${run.execution_id}`)).json();
      expect(execution).toMatchObject({ execution_id: run.execution_id, status: 'QUEUED' });
    } finally {
      serve.kill('SIGTERM');
      await serve;
    }
  }, 200_000);
});
