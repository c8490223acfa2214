import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import Tinypool from 'tinypool';
import type { RunOutcome } from '../domain/execution.js';
import type { SandboxHost } from '../sandbox/run.js';
import { runInSandbox } from '../sandbox/run.js';
import type { JobRunner } from './executor.js';
import type { SandboxTask } from './task.js';
import type { SandboxThreadInit } from './sandbox-thread.js';

/** Runs sandboxes on this thread: for `codexec run` without a server, and for tests. */
export class InlineRunner implements JobRunner {
  constructor(private readonly host: SandboxHost) {}
  run(task: SandboxTask, signal: AbortSignal): Promise<RunOutcome> {
    return runInSandbox(this.host, { ...task, signal });
  }
  async close(): Promise<void> {
    await this.host.close();
  }
}

/** The compiled thread entry (dist/worker/sandbox-thread.js), also when running from src/ under vitest. */
function threadEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), 'sandbox-thread.js');
  if (fs.existsSync(sibling)) return sibling;
  const dist = path.resolve(path.dirname(here), '..', '..', 'dist', 'worker', 'sandbox-thread.js');
  if (fs.existsSync(dist)) return dist;
  throw new Error('dist/worker/sandbox-thread.js is missing: run `npm run build`');
}

/**
 * Runs sandboxes in tinypool worker threads, so that spawning, piping and collecting output never
 * occupies the HTTP event loop. One thread per slot: each execution mostly waits on its process.
 */
export class PoolRunner implements JobRunner {
  private readonly pool: Tinypool;

  constructor(slots: number, init: SandboxThreadInit) {
    this.pool = new Tinypool({
      filename: threadEntry(),
      minThreads: Math.max(1, slots),
      maxThreads: Math.max(1, slots),
      // Threads stay up: a thread's exit would end its children through PDEATHSIG.
      idleTimeout: 0,
      isolateWorkers: false,
      workerData: init,
    });
  }

  async run(task: SandboxTask, signal: AbortSignal): Promise<RunOutcome> {
    return (await this.pool.run(task, { signal })) as RunOutcome;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
