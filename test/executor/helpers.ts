import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import { isTerminal } from '../../src/domain/states.js';
import { Executor } from '../../src/executor/executor.js';
import { openSandboxRunner } from '../../src/executor/open-sandbox.js';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { submitRun, type RunSubmission } from '../../src/executions/submit.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { probeIsolation } from '../../src/sandbox/host.js';

// An executor over a real SQLite queue and the real sandbox, fed through the real submit path.

export const isRoot = process.geteuid?.() === 0;
export const logger = pino({ level: 'silent' });

export async function openTestSandbox(config: Config = loadConfig({})): Promise<SandboxRunner> {
  return openSandboxRunner((await probeIsolation(config, defaultProfilesDir())).settings, { slots: 2, pool: false });
}

export interface Rig {
  dir: string;
  file: string;
  store: JobQueue;
  executor: Executor;
  languages: LanguageRegistry;
  config: Config;
  submit(s: Partial<RunSubmission> & { language?: string; sourceCode?: string }): Promise<string>;
  settle(id: string, timeoutMs?: number): Promise<ExecutionRecord>;
  until(id: string, status: string, timeoutMs?: number): Promise<ExecutionRecord>;
  close(): Promise<void>;
}

export async function rig(sandbox: SandboxRunner, opts: { languages?: LanguageRegistry; maxAttempts?: number; slots?: number; config?: Partial<Record<keyof Config, unknown>> } = {}): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-exec-'));
  const file = path.join(dir, 'codexec.db');
  const config = loadConfig({}, { dataDir: dir, maxAttempts: opts.maxAttempts ?? 3, ...opts.config });
  const store = openSqliteQueue(file, { eventsPollMs: 0 });
  const languages = opts.languages ?? (await LanguageRegistry.load(defaultProfilesDir(), config, { probeVersions: false }));
  const executor = new Executor({ store, sandbox, logger, slots: opts.slots ?? 2, leaseMs: 5000, retryBaseMs: 10 });
  executor.start();
  const get = async (id: string) => (await store.get(id))!;
  const until = async (id: string, status: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rec = await get(id);
      if (rec.status === status || (status === 'terminal' && isTerminal(rec.status))) return rec;
      if (Date.now() > deadline) throw new Error(`execution ${id} still ${rec.status}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    dir,
    file,
    store,
    executor,
    languages,
    config,
    async submit(s) {
      const { execution } = await submitRun(
        { config, jobs: store, languages },
        { source: { language: s.language ?? 'python', sourceCode: s.sourceCode ?? 'print(1)' }, ...s },
      );
      return execution.id;
    },
    settle: (id, timeoutMs) => until(id, 'terminal', timeoutMs),
    until,
    async close() {
      await executor.stop(1000);
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
