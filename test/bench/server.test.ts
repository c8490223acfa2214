import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { startServer as StartServer } from '../../bench/lib/server.mjs';

// The benchmarks' server starter (bench/lib/server.mjs) when the server does not come up. A
// stand-in for bin/codexec (CODEXEC_BENCH_ROOT, read when the module loads) exits at once or never
// answers; the data directories go to a TMPDIR of the test's own.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-test-benchroot-'));
fs.mkdirSync(path.join(root, 'bin'));
const standIn = (body: string) => fs.writeFileSync(path.join(root, 'bin', 'codexec'), body);

describe('startServer, a start that fails', () => {
  let startServer: typeof StartServer;
  let tmp: string;
  const savedTmp = process.env.TMPDIR;
  beforeAll(async () => {
    process.env.CODEXEC_BENCH_ROOT = root;
    ({ startServer } = await import('../../bench/lib/server.mjs'));
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-test-tmp-'));
    process.env.TMPDIR = tmp;
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  afterEach(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a server that exits at start: the error says why, and its data directory is gone', async () => {
    standIn(`process.stderr.write('codexec: invalid configuration\\n'); process.exit(1);`);
    await expect(startServer({ executors: 0 })).rejects.toThrow(/exited \(\{"code":1,"signal":null\}\) before it was ready:\ncodexec: invalid configuration/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a server never ready: it is killed at the deadline, and its data directory is gone', async () => {
    const pidFile = path.join(root, 'pid');
    standIn(`require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`);
    await expect(startServer({ executors: 0, startTimeoutMs: 500 })).rejects.toThrow(/not ready after 500 ms/);
    expect(fs.readdirSync(tmp)).toEqual([]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('a shared data directory is left to its owner', async () => {
    const shared = fs.mkdtempSync(path.join(tmp, 'shared-'));
    standIn(`process.exit(3);`);
    await expect(startServer({ executors: 0, dataDir: shared })).rejects.toThrow(/exited \(\{"code":3,/);
    expect(fs.existsSync(shared)).toBe(true);
  });
});
