import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { cancelExecution } from '../../src/executions/cancel.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { isRoot, openTestSandbox, rig, type Rig } from './helpers.js';

// The executor against a real SQLite queue and the real sandbox, with jobs submitted through the
// real submit path.
const config = loadConfig({});

describe.skipIf(!isRoot)('executor (needs root for the sandbox)', () => {
  let sandbox: SandboxRunner;
  const open: Rig[] = [];
  const cleanup: (() => void)[] = [];
  beforeAll(async () => {
    sandbox = await openTestSandbox(config);
  });
  afterAll(async () => {
    await sandbox.close();
  });
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
    for (const fn of cleanup.splice(0)) fn();
  });
  const setup = async (opts: Parameters<typeof rig>[1] = {}) => {
    const r = await rig(sandbox, opts);
    open.push(r);
    return r;
  };

  it('runs a queued job to COMPLETED with its output and timestamps', async () => {
    const { submit, settle } = await setup();
    const rec = await settle(await submit({ sourceCode: 'print("Hello World")' }));
    expect(rec.status).toBe('COMPLETED');
    expect(rec.result?.stdout).toBe('Hello World\n');
    expect(rec.attempt).toBe(1);
    expect(rec.startedAt).toBeGreaterThanOrEqual(rec.queuedAt);
    expect(rec.finishedAt).toBeGreaterThanOrEqual(rec.startedAt!);
    expect(rec.result?.seccompDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('feeds stdin and judges against the expected output', async () => {
    const { submit, settle } = await setup();
    const pass = await settle(await submit({ sourceCode: 'print(int(input()) * 2)', stdin: '21\n', expectedOutput: '42\n' }));
    expect(pass.result?.verdict).toBe('passed');
    const wrong = await settle(await submit({ sourceCode: 'print(int(input()) * 3)', stdin: '21\n', expectedOutput: '42\n' }));
    expect(wrong.status).toBe('COMPLETED');
    expect(wrong.result?.verdict).toBe('wrong_answer');
    expect(wrong.result?.feedback).toMatch(/line 1/);
  });

  it('a truncated output never passes: the right answer, 70,000 newlines, then a wrong one', async () => {
    const { submit, settle } = await setup();
    const rec = await settle(await submit({ sourceCode: 'print(42)\nprint("\\n" * 70000)\nprint(41)', expectedOutput: '42\n' }));
    expect(rec.status).toBe('COMPLETED');
    expect(rec.result?.stdoutTruncated).toBe(true);
    expect(rec.result?.verdict).toBe('wrong_answer');
    expect(rec.result?.feedback).toMatch(/truncated/);
  });

  it("never retries the program's own failure", async () => {
    const { submit, settle } = await setup();
    const rec = await settle(await submit({ sourceCode: 'import sys\nsys.exit(3)' }));
    expect(rec.status).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('runtime_error');
    expect(rec.result?.exitCode).toBe(3);
    expect(rec.attempt).toBe(1);
    expect(rec.errors).toEqual([]);
  });

  it('reports TIMEOUT for an infinite loop, with the limit in the feedback', async () => {
    const { submit, settle } = await setup();
    const rec = await settle(await submit({ sourceCode: 'while True: pass', timeLimitMs: 1000 }));
    expect(rec.status).toBe('TIMEOUT');
    expect(['wall_time_limit', 'cpu_time_limit']).toContain(rec.result?.failureReason);
    expect(rec.result?.feedback).toMatch(/infinite loop/);
  });

  it('runs the stored plan, not the profile as it is later: a changed or removed profile changes nothing', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-prof-'));
    cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    fs.cpSync(defaultProfilesDir(), tmp, { recursive: true });
    const file = path.join(tmp, 'languages', 'python.json');
    const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
    prof.limits = { default: { wallTimeMs: 3000, cpuTimeMs: 3000 } };
    prof.env = { ...prof.env, PLANNED: 'yes' };
    fs.writeFileSync(file, JSON.stringify(prof));
    const languages = await LanguageRegistry.load(tmp, config, { probeVersions: false });
    const { store, executor, submit, settle } = await setup({ languages, slots: 1 });
    // Hold the only slot, so the next job stays queued while its profile changes.
    const blocker = await submit({ sourceCode: 'import time\ntime.sleep(0.5)' });
    const id = await submit({ sourceCode: 'import os, time\ntime.sleep(1.5)\nprint(os.environ.get("PLANNED"))' });
    expect((await store.get(id))?.status).toBe('QUEUED');
    prof.limits = { default: { wallTimeMs: 200, cpuTimeMs: 200 } };
    delete prof.env.PLANNED;
    fs.writeFileSync(file, JSON.stringify(prof));
    fs.rmSync(path.join(tmp, 'languages', 'python.json'));
    await settle(blocker);
    const rec = await settle(id);
    expect(rec.status).toBe('COMPLETED');
    expect(rec.result?.stdout).toBe('yes\n');
    expect(rec.plan?.run.limits.wallTimeMs).toBe(3000);
    expect(executor.busy).toBe(0);
  });

  it('cancels a RUNNING job: its process tree is killed and it ends FAILED(canceled), told through another connection', async () => {
    const { store, file, submit, until, settle } = await setup();
    const id = await submit({ sourceCode: 'import subprocess, time\nsubprocess.Popen(["sleep", "60"])\ntime.sleep(60)', timeLimitMs: 30_000 });
    await until(id, 'RUNNING');
    // Another process's connection asks for the cancel: the executor hears of it through the
    // queue's events (the WAL changed; the event table says which job).
    const other = openSqliteQueue(file);
    const asked = Date.now();
    try {
      const { pending } = await cancelExecution(other, id);
      expect(pending).toBe(true);
    } finally {
      await other.close();
    }
    const rec = await settle(id, 10_000);
    const latencyMs = (rec.finishedAt ?? 0) - asked;
    console.log(`[executor] cancel of a running job recorded ${latencyMs} ms after it was asked for`);
    expect(rec.status).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('canceled');
    expect(rec.attempt).toBe(1);
    expect((await store.get(id))?.cancelRequestedAt).not.toBeNull();
    expect(latencyMs).toBeLessThan(5000); // far before the program's own 60 s
  });

  it('cancels a QUEUED job before it runs', async () => {
    const { store, submit, settle, until } = await setup({ slots: 1 });
    const blocker = await submit({ sourceCode: 'import time\ntime.sleep(1)' });
    await until(blocker, 'RUNNING');
    const id = await submit({ sourceCode: 'print("never")' });
    const { pending, execution } = await cancelExecution(store, id);
    expect(pending).toBe(false);
    expect(execution).toMatchObject({ status: 'FAILED', attempt: 0, result: { failureReason: 'canceled' } });
    await settle(blocker);
    expect((await store.get(id))?.attempt).toBe(0);
  });

  it('retries a sandbox that cannot start, then fails after the last attempt', async () => {
    // A real fault: the planned interpreter exists when the run is planned, then vanishes, so the
    // launcher's execve fails inside the sandbox (setup_error exec) on every attempt.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-prof-'));
    cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    fs.cpSync(defaultProfilesDir(), tmp, { recursive: true });
    const fake = path.join(tmp, 'python3');
    fs.copyFileSync('/usr/bin/python3', fake);
    fs.chmodSync(fake, 0o755);
    const file = path.join(tmp, 'languages', 'python.json');
    const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
    prof.toolchain.python = [fake];
    prof.binds = [tmp];
    fs.writeFileSync(file, JSON.stringify(prof));
    const languages = await LanguageRegistry.load(tmp, config, { probeVersions: false });
    const { executor, submit, settle } = await setup({ languages, maxAttempts: 3 });
    await executor.stop(0); // plan first, run after the interpreter is gone
    const id = await submit({ sourceCode: 'print(1)' });
    fs.rmSync(fake);
    executor.start();
    const rec = await settle(id);
    expect(rec.status).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('internal_error');
    expect(rec.attempt).toBe(3);
    expect(rec.errors.map((e) => e.code)).toEqual(['sandbox_error', 'sandbox_error', 'sandbox_error']);
  });

  it('hands running jobs back to the queue on a short shutdown, without spending an attempt', async () => {
    const { store, executor, submit, until } = await setup();
    const id = await submit({ sourceCode: 'import time\ntime.sleep(10)' });
    await until(id, 'RUNNING');
    const r = await executor.stop(100);
    expect(r.handedBack).toBe(1);
    const rec = await store.get(id);
    expect(rec?.status).toBe('QUEUED');
    expect(rec?.attempt).toBe(0);
  });
});
