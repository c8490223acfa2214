import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import { SqliteJobStore } from '../../src/queue/sqlite/sqlite-job-store.js';
import { createWakeSignal, type WakeSignal } from '../../src/queue/wake.js';
import { openSandboxHost, probeIsolation } from '../../src/sandbox/host.js';
import type { SandboxHost } from '../../src/sandbox/run.js';
import { Executor } from '../../src/worker/executor.js';
import { InlineRunner } from '../../src/worker/runners.js';

// The executor against a real SQLite queue and the real sandbox (inline runner).
const isRoot = process.geteuid?.() === 0;
const config = loadConfig({});
const logger = pino({ level: 'silent' });

describe.skipIf(!isRoot)('executor (needs root for the sandbox)', () => {
  let host: SandboxHost;
  let languages: LanguageRegistry;
  const cleanup: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    host = await openSandboxHost((await probeIsolation(config, defaultProfilesDir())).settings);
    languages = await LanguageRegistry.load(defaultProfilesDir(), config, { probeVersions: false });
  });

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  function setup(opts: { languages?: LanguageRegistry; maxAttempts?: number } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-exec-'));
    const store = SqliteJobStore.open(path.join(dir, 'codexec.db'));
    const wake: WakeSignal = createWakeSignal({ dir, dbFileName: 'codexec.db', fallbackPollMs: 0 });
    const executor = new Executor({
      store, languages: opts.languages ?? languages, runner: new InlineRunner(host), wake, logger,
      slots: 2, leaseMs: 5000, retryBaseMs: 10,
    });
    executor.start();
    cleanup.push(async () => {
      await executor.stop(1000);
      wake.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const submit = async (language: string, sourceCode: string, extra: { stdin?: string; expectedOutput?: string } = {}) => {
      const { execution } = await store.enqueue({
        id: randomUUID(), sessionId: randomUUID(), language, sourceCode, stdin: extra.stdin ?? '',
        expectedOutput: extra.expectedOutput ?? null, limitOverrides: {}, maxAttempts: opts.maxAttempts ?? 3,
      });
      wake.notify();
      return execution.id;
    };
    const settle = async (id: string, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rec = await store.get(id);
        if (rec && ['COMPLETED', 'FAILED', 'TIMEOUT'].includes(rec.status)) return rec;
        if (Date.now() > deadline) throw new Error(`execution ${id} still ${rec?.status}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    return { store, executor, submit, settle, dir };
  }

  it('runs a queued job to COMPLETED with its output and timestamps', async () => {
    const { submit, settle } = setup();
    const rec = await settle(await submit('python', 'print("Hello World")'));
    expect(rec.status).toBe('COMPLETED');
    expect(rec.result?.stdout).toBe('Hello World\n');
    expect(rec.attempt).toBe(1);
    expect(rec.startedAt).toBeGreaterThanOrEqual(rec.queuedAt);
    expect(rec.finishedAt).toBeGreaterThanOrEqual(rec.startedAt!);
  });

  it('feeds stdin and judges against the expected output', async () => {
    const { submit, settle } = setup();
    const pass = await settle(await submit('python', 'print(int(input()) * 2)', { stdin: '21\n', expectedOutput: '42\n' }));
    expect(pass.result?.verdict).toBe('passed');
    const wrong = await settle(await submit('python', 'print(int(input()) * 3)', { stdin: '21\n', expectedOutput: '42\n' }));
    expect(wrong.status).toBe('COMPLETED');
    expect(wrong.result?.verdict).toBe('wrong_answer');
    expect(wrong.result?.feedback).toMatch(/line 1/);
  });

  it('never retries the program\'s own failure', async () => {
    const { submit, settle } = setup();
    const rec = await settle(await submit('python', 'import sys\nsys.exit(3)'));
    expect(rec.status).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('runtime_error');
    expect(rec.result?.exitCode).toBe(3);
    expect(rec.attempt).toBe(1);
    expect(rec.errors).toEqual([]);
  });

  it('reports TIMEOUT for an infinite loop, with the limit in the feedback', async () => {
    const { store, submit, settle } = setup();
    const id = await submit('python', 'while True: pass');
    await store.get(id);
    const rec = await settle(id);
    expect(rec.status).toBe('TIMEOUT');
    expect(['wall_time_limit', 'cpu_time_limit']).toContain(rec.result?.failureReason);
    expect(rec.result?.feedback).toMatch(/infinite loop/);
  });

  it('retries a sandbox that cannot start, then fails after the last attempt', async () => {
    // A real fault: the profile's interpreter exists when the registry resolves it, then vanishes,
    // so the launcher's execve fails inside the sandbox (setup_error exec).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-prof-'));
    fs.cpSync(defaultProfilesDir(), tmp, { recursive: true });
    const fake = path.join(tmp, 'python3');
    fs.copyFileSync('/usr/bin/python3', fake);
    fs.chmodSync(fake, 0o755);
    const prof = JSON.parse(fs.readFileSync(path.join(tmp, 'languages', 'python.json'), 'utf8'));
    prof.toolchain.python = [fake];
    prof.binds = [tmp];
    fs.writeFileSync(path.join(tmp, 'languages', 'python.json'), JSON.stringify(prof));
    const broken = await LanguageRegistry.load(tmp, config, { probeVersions: false });
    fs.rmSync(fake);
    cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const { submit, settle } = setup({ languages: broken, maxAttempts: 3 });
    const rec = await settle(await submit('python', 'print(1)'));
    expect(rec.status).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('internal_error');
    expect(rec.attempt).toBe(3);
    expect(rec.errors.map((e) => e.code)).toEqual(['sandbox_error', 'sandbox_error', 'sandbox_error']);
  });

  it('hands running jobs back to the queue on a short shutdown, without spending an attempt', async () => {
    const { store, executor, submit } = setup();
    const id = await submit('python', 'import time\ntime.sleep(10)');
    for (let i = 0; i < 500 && (await store.get(id))?.status !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await store.get(id))?.status).toBe('RUNNING');
    const r = await executor.stop(100);
    expect(r.handedBack).toBe(1);
    const rec = await store.get(id);
    expect(rec?.status).toBe('QUEUED');
    expect(rec?.attempt).toBe(0);
  });
});
