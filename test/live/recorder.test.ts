import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/domain/live-events.js';
import { LiveRecorder, ROW_CHARS } from '../../src/live/recorder.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { makeTempDir, newExecution, removeDir, testPlan, TEST_LIMITS } from '../queue/helpers.js';

// The executor's side of live output against a real queue: nothing is written while nobody
// watches; a watch writes the backlog, then flushes; text is decoded across chunk boundaries and
// capped like the stored output; a writer that lost the lease writes nothing.

describe('LiveRecorder', () => {
  let dir: string;
  let store: JobQueue;
  let id: string;
  beforeEach(async () => {
    dir = makeTempDir();
    store = openSqliteQueue(path.join(dir, 'codexec.db'), { eventsPollMs: 0 });
    const plan = testPlan({ run: { argv: ['x'], limits: { ...TEST_LIMITS, stdoutBytes: 10, stderrBytes: 1000 } } });
    id = (await store.enqueue(newExecution({ plan }))).execution.id;
    expect((await store.claim('me', 10_000))?.id).toBe(id);
  });
  afterEach(async () => {
    await store.close();
    removeDir(dir);
  });

  const recorder = (watched: boolean, owner = 'me') =>
    new LiveRecorder({ log: store.output, executionId: id, attempt: 1, owner, stdoutBytes: 10, stderrBytes: 1000, watched, flushMs: 5 });
  const events = async (): Promise<LiveEvent[]> => (await store.output.after(id, 0, 100)).flatMap((r) => r.events);

  it('writes nothing for a run nobody watches', async () => {
    const r = recorder(false);
    r.output('stdout', Buffer.from('hello'), null);
    await r.close();
    expect(await store.output.after(id, 0, 10)).toEqual([]);
    expect(await store.output.hasAttempt(id, 1)).toBe(false);
  });

  it('a watch writes what came before it, then what follows; a UTF-8 character split between chunks stays whole; the cap applies', async () => {
    const r = recorder(false);
    const e = Buffer.from('é');
    r.output('stdout', Buffer.concat([Buffer.from('ab'), e.subarray(0, 1)]), null);
    r.output('stderr', Buffer.from('err'), null);
    r.output('stdout', e.subarray(1), null);
    r.watch();
    await new Promise((res) => setTimeout(res, 50));
    expect(await events()).toEqual([
      { type: 'output', stream: 'stdout', case: null, text: 'ab' },
      { type: 'output', stream: 'stderr', case: null, text: 'err' },
      { type: 'output', stream: 'stdout', case: null, text: 'é' },
    ]);
    // 10 bytes of stdout at most: 'abé' took 4; the rest is cut inside a 'é', which is dropped
    // at the cap like the stored output drops it.
    r.output('stdout', Buffer.from('12345é€'), null);
    await r.close();
    const all = await events();
    expect(all.slice(3)).toEqual([{ type: 'output', stream: 'stdout', case: null, text: '12345' }]);
    expect(await store.output.hasAttempt(id, 1)).toBe(true);
  });

  it('invalid UTF-8 becomes U+FFFD as in the stored output; case events keep their order', async () => {
    const r = recorder(true);
    r.caseStarted(0, 'first', false);
    r.output('stderr', Buffer.from([0x61, 0xff, 0x62]), 0);
    r.output('stderr', Buffer.from([0xe2, 0x82]), 0); // cut short when the case ends: U+FFFD (not at the cap)
    r.caseFinished(0, { name: 'first', hidden: false, status: 'passed' } as never);
    await r.close();
    expect(await events()).toEqual([
      { type: 'case_started', case: 0, name: 'first', hidden: false },
      { type: 'output', stream: 'stderr', case: 0, text: 'a\ufffdb\ufffd' },
      { type: 'case_finished', case: 0, result: { name: 'first', hidden: false, status: 'passed' } },
    ]);
  });

  it('splits a big backlog into rows, never inside a surrogate pair', async () => {
    const r = new LiveRecorder({ log: store.output, executionId: id, attempt: 1, owner: 'me', stdoutBytes: 1 << 20, stderrBytes: 10, watched: false });
    const text = `${'x'.repeat(ROW_CHARS - 1)}😀${'y'.repeat(10)}`;
    r.output('stdout', Buffer.from(text), null);
    r.watch();
    await r.close();
    const rows = await store.output.after(id, 0, 10);
    expect(rows.length).toBe(2);
    const parts = rows.map((row) => (row.events[0] as { text: string }).text);
    expect(parts.join('')).toBe(text);
    expect(parts[0]!.length).toBe(ROW_CHARS - 1);
  });

  it('an executor that no longer holds the lease writes nothing', async () => {
    const r = recorder(true, 'someone-else');
    r.output('stdout', Buffer.from('late'), null);
    await r.close();
    expect(await store.output.after(id, 0, 10)).toEqual([]);
  });
});
