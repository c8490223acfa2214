import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import { SqliteJobStore } from '../../src/queue/sqlite/sqlite-job-store.js';
import { createWakeSignal, type WakeSignal } from '../../src/queue/wake.js';
import { transpileForChildren } from './child-modules.js';
import { makeTempDir, removeDir } from './helpers.js';

const DB = 'codexec.db';
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('wake signal', () => {
  let dir: string;
  let dataDir: string;
  let wake: WakeSignal | undefined;
  beforeEach(() => {
    dir = makeTempDir();
    dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
  });
  afterEach(() => {
    wake?.close();
    wake = undefined;
    removeDir(dir);
  });

  it('wakes an idle claimer when another process enqueues, with no poll at all', async () => {
    const file = path.join(dataDir, DB);
    const store = SqliteJobStore.open(file);
    try {
      wake = createWakeSignal({ dir: dataDir, dbFileName: DB, fallbackPollMs: 0 });
      expect(wake.watching).toBe(true);
      const w = wake;
      // An idle executor: it looks for work only when woken.
      const claimed = new Promise<ExecutionRecord>((resolve) => {
        const off = w.onWake(() => {
          void store.claim('idle-executor', 10_000).then((job) => {
            if (job) {
              off();
              resolve(job);
            }
          });
        });
      });
      expect(await store.claim('idle-executor', 10_000)).toBeNull();

      const storeModule = transpileForChildren(path.join(dir, 'build'))('src/queue/sqlite/sqlite-job-store.ts');
      const child = fork(fileURLToPath(new URL('./fixtures/enqueue-one.mjs', import.meta.url)), [storeModule, file, 'ex_from_child'], {
        execArgv: [],
      });
      const exitCode = new Promise((r) => child.once('exit', r));
      // Never resolved by a timer here: only a watched commit can wake the claimer.
      expect((await claimed).id).toBe('ex_from_child');
      expect(await exitCode).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('notify() wakes listeners in this process, once per tick however often it is called', async () => {
    wake = createWakeSignal({ dir: dataDir, dbFileName: DB, fallbackPollMs: 0 });
    let calls = 0;
    const off = wake.onWake(() => calls++);
    wake.notify();
    wake.notify();
    wake.notify();
    expect(calls).toBe(0); // asynchronous: never re-enters the caller
    await tick();
    expect(calls).toBe(1);
    wake.notify();
    await tick();
    expect(calls).toBe(2);
    off();
    wake.notify();
    await tick();
    expect(calls).toBe(2);
  });

  it('ignores changes to other files in the directory', async () => {
    wake = createWakeSignal({ dir: dataDir, dbFileName: DB, fallbackPollMs: 0 });
    let calls = 0;
    wake.onWake(() => calls++);
    // A probe watcher on the same directory: once it has seen the write, so has the wake signal.
    const seen = new Promise<void>((resolve) => {
      const probe = fs.watch(dataDir, (_e, name) => {
        if (name === 'sessions.db-wal') {
          probe.close();
          resolve();
        }
      });
    });
    fs.writeFileSync(path.join(dataDir, 'sessions.db-wal'), 'x');
    await seen;
    await tick();
    expect(calls).toBe(0);
    fs.writeFileSync(path.join(dataDir, `${DB}-wal`), 'x');
    await new Promise<void>((resolve) => wake!.onWake(resolve));
    expect(calls).toBeGreaterThanOrEqual(1);
  });

  it('falls back to polling when no event comes', async () => {
    wake = createWakeSignal({ dir: dataDir, dbFileName: DB, fallbackPollMs: 20 });
    await new Promise<void>((resolve) => wake!.onWake(resolve));
  });

  it('still polls when the directory cannot be watched', async () => {
    wake = createWakeSignal({ dir: path.join(dir, 'missing'), dbFileName: DB, fallbackPollMs: 20 });
    expect(wake.watching).toBe(false);
    await new Promise<void>((resolve) => wake!.onWake(resolve));
  });

  it('stops waking after close', async () => {
    wake = createWakeSignal({ dir: dataDir, dbFileName: DB, fallbackPollMs: 5 });
    let calls = 0;
    wake.onWake(() => calls++);
    wake.notify();
    wake.close();
    await tick();
    expect(calls).toBe(0);
  });
});
