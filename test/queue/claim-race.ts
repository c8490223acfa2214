import { fork, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import type { JobStore } from '../../src/queue/job-store.js';
import { TS_CHILD_EXEC_ARGV } from '../support/ts-child.js';
import { completedResult } from './helpers.js';

// What the claim races of both databases share (claim-race.test.ts, postgres-claim-race.test.ts):
// claimer processes started at the same moment, a claimer that drains a store, and the check that
// every job was claimed exactly once.

/** A message of a claimer child (test/queue/fixtures/*claim-worker.mjs). */
export type ChildMessage = { type: 'ready' } | { type: 'done'; claimed: string[] } | { type: 'error'; message: string };

/** The child's next message; rejects on an error message or an early exit. */
export function nextMessage(child: ChildProcess, stderr: () => string): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: ChildMessage): void => {
      cleanup();
      if (msg.type === 'error') reject(new Error(`claimer ${child.pid} failed: ${msg.message}`));
      else resolve(msg);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`claimer ${child.pid} exited (${code}) early: ${stderr()}`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * Forks one claimer of `fixture` per argv of `argvs`; once every one is ready (has opened the
 * database), starts them all at the same moment. Returns the ids each claimed; each must exit 0.
 */
export async function claimInProcesses(fixture: string, argvs: string[][]): Promise<string[][]> {
  const children = argvs.map((argv) => {
    const child = fork(fixture, argv, { execArgv: TS_CHILD_EXEC_ARGV, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, stderr: () => stderr };
  });
  try {
    await Promise.all(children.map(({ child, stderr }) => nextMessage(child, stderr)));
    const done = children.map(({ child, stderr }) => nextMessage(child, stderr));
    for (const { child } of children) child.send('go');
    const results = (await Promise.all(done)) as { type: 'done'; claimed: string[] }[];
    const exits = await Promise.all(
      children.map(({ child }) => (child.exitCode !== null ? child.exitCode : new Promise((r) => child.once('exit', r)))),
    );
    expect(exits).toEqual(argvs.map(() => 0));
    console.log(`claims per process: ${results.map((r) => r.claimed.length).join(', ')}`);
    return results.map((r) => r.claimed);
  } finally {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/**
 * Claims and completes jobs of `store` as `owner` until none is left, as an executor's slot does:
 * the first with claim(), each next one with the result of the one before (finishAndClaim).
 * Returns the ids it claimed.
 */
export async function drain(store: JobStore, owner: string): Promise<string[]> {
  const claimed: string[] = [];
  let job = await store.claim(owner, 60_000);
  while (job !== null) {
    claimed.push(job.id);
    // Yield so the other claimers interleave with this one.
    await new Promise((r) => setImmediate(r));
    const r = await store.finishAndClaim(job.id, owner, 'COMPLETED', completedResult(), 60_000);
    expect(r.finished).toBe(true);
    job = r.next;
  }
  return claimed;
}

/** `claims` are the jobs `ids`, each claimed once, and every job COMPLETED at its first attempt. */
export async function expectEachClaimedOnce(store: JobStore, ids: string[], claims: string[]): Promise<void> {
  expect(claims).toHaveLength(ids.length);
  expect(new Set(claims).size).toBe(ids.length);
  expect([...claims].sort()).toEqual([...ids].sort());
  const stats = await store.stats();
  expect(stats.counts).toEqual({ QUEUED: 0, RUNNING: 0, COMPLETED: ids.length, FAILED: 0, TIMEOUT: 0 });
  for (const id of ids) expect((await store.get(id))?.attempt).toBe(1);
}

/** `extra` more claims than jobs, all at once on `store`: each job claimed (and completed) once, the rest null. */
export async function claimAllAtOnce(store: JobStore, ids: string[], extra: number): Promise<void> {
  const claims = await Promise.all(Array.from({ length: ids.length + extra }, (_, i) => store.claim(`c${i % 7}`, 60_000)));
  const got = claims.filter((c) => c !== null);
  expect(claims.filter((c) => c === null)).toHaveLength(extra);
  for (const job of got) expect(await store.finish(job.id, job.leaseOwner!, 'COMPLETED', completedResult())).toBe(true);
  await expectEachClaimedOnce(store, ids, got.map((j) => j.id));
}
