import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, attemptErrors, figures, logEvents, logged, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { Fatal, descendants, killAll, sleep, stillRunning, waitFor, type CodexecProcess } from '../lib/procs.js';

// An executor dies (kill -9) or stalls (SIGSTOP) while it runs a job: after its lease expires
// another executor takes the job back and runs it, and the job ends exactly once.

// Short, so that the rescue comes soon; long enough that a loaded machine's event-loop stalls do
// not expire the leases of live executors (which would add attempts the checks do not expect).
const LEASE_MS = 3000;

export function killExecutorScenario(): void {
  describe('an executor killed while it runs a job', () => {
    let root: string;
    let cluster: Cluster;
    let api: Server;

    beforeAll(async () => {
      root = makeTempDir('kill-executor');
      cluster = new Cluster(root, { CODEXEC_LEASE_MS: LEASE_MS, CODEXEC_RETRY_BASE_MS: 100, CODEXEC_WORKER_CONCURRENCY: 1 });
      api = await cluster.serve({ CODEXEC_EXECUTORS: 0 });
    }, 120_000);

    afterAll(async () => {
      api?.proc.signal('SIGTERM');
      await api?.proc.waitExit(30_000);
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    /** Submits a ~3 s job and waits until `owner` runs it; returns its id and marker. */
    async function runningOn(owner: CodexecProcess): Promise<{ id: string; marker: string }> {
      const marker = `marker-${randomUUID()}`;
      const id = await api.api.submit(`import time\ntime.sleep(3)\nprint(${JSON.stringify(marker)})\n`);
      const row = await waitFor('the job to be claimed', () => {
        const r = cluster.row(id);
        return r?.status === 'RUNNING' ? r : undefined;
      }, 30_000);
      expect(row.lease_owner).toContain(`:${owner.pid}:`);
      // Let the sandbox start the program, so that the kill hits a job that really runs.
      await waitFor('the sandboxed program to start', () => descendants(owner.pid).some((p) => p.comm.startsWith('python')), 20_000, 50);
      return { id, marker };
    }

    it('kill -9: the job is rescued after the lease expires and completes exactly once (attempts = 2, lease_expired)', async () => {
      // The rescuer is up before the kill, so that the figures time the lease expiry and the
      // rescue, not a process start; it is paused (SIGSTOP) until the victim has claimed the job.
      const b = await cluster.worker();
      b.signal('SIGSTOP');
      const a = await cluster.worker();
      try {
        const { id, marker } = await runningOn(a);
        b.signal('SIGCONT');
        const sandbox = descendants(a.pid);
        const killedAt = Date.now();
        await a.kill9();
        expect(cluster.row(id)!.status).toBe('RUNNING'); // killed mid-run, not after

        // The sandbox of the killed executor does not outlive it (PDEATHSIG on the process chain).
        const orphans = await waitFor('the sandbox to end', () => stillRunning(sandbox).length === 0 || undefined, 10_000).then(
          () => [],
          () => stillRunning(sandbox),
        );
        expect(orphans).toEqual([]);

        const [row] = await cluster.waitTerminal(60_000, [id], [b]);
        const doneAt = Date.now();

        expect(row.status).toBe('COMPLETED');
        expect(row.attempt).toBe(2);
        const errors = attemptErrors(row);
        expect(errors.map((e) => [e.attempt, e.code])).toEqual([[1, 'lease_expired']]);
        expect(errors[0].message).toContain(`:${a.pid}:`);
        const result = resultOf(row);
        expect(result.stdout).toBe(`${marker}\n`); // printed once: only the second attempt's output is kept
        expect(row.finished_at).not.toBeNull();
        // One terminal transition, made by the rescuer; the killed executor never recorded one.
        await logged([a, b], 'execution COMPLETED', [id]);
        expect(logEvents([a, b], 'execution COMPLETED', id)).toHaveLength(1);
        expect(logEvents([b], 'execution COMPLETED', id)).toHaveLength(1);
        expect(logEvents([a, b], 'execution RUNNING', id).map((l) => l.attempt)).toEqual([1, 2]);
        expect(logEvents([b], 'rescued executions whose executor was lost')).toHaveLength(1);

        figures('kill -9 executor', {
          jobs: 1,
          attempts: row.attempt,
          rescues: errors.length,
          sandbox_processes_killed: sandbox.length,
          kill_to_rescue_ms: errors[0].at - killedAt,
          kill_to_completed_ms: doneAt - killedAt,
        });
      } finally {
        b.signal('SIGCONT');
        await a.kill9();
        await b.kill9();
      }
    }, 120_000);

    it('SIGSTOP: a stalled executor that wakes up after the rescue does not record a second outcome', async () => {
      const a = await cluster.worker();
      const { id, marker } = await runningOn(a);
      const stoppedAt = Date.now();
      a.signal('SIGSTOP');
      const b = await cluster.worker();
      try {
        // b rescues and runs the job; a is resumed while b's attempt runs, or after it finished.
        await waitFor('the rescue', () => {
          if (!b.alive) throw new Fatal(`${b.name} exited ${JSON.stringify(b.exit)}`);
          return cluster.row(id)!.attempt === 2 || undefined;
        }, 30_000);
        await sleep(1000);
        a.signal('SIGCONT');
        const [row] = await cluster.waitTerminal(60_000, [id], [b]);
        // Give the resumed executor time to try to record its own (late) outcome.
        await waitFor('the stalled executor to notice it lost the lease', () => {
          const lines = a.logLines().filter((l) => l.execution_id === id);
          return lines.some((l) => /lease lost|after losing the lease/.test(String(l.msg))) || undefined;
        }, 15_000);
        const again = cluster.row(id)!;

        expect(row.status).toBe('COMPLETED');
        expect(row.attempt).toBe(2);
        expect(attemptErrors(row).map((e) => e.code)).toEqual(['lease_expired']);
        expect(resultOf(row).stdout).toBe(`${marker}\n`);
        // Nothing changed after the terminal state: same finish time, same result.
        expect(again.finished_at).toBe(row.finished_at);
        expect(again.result).toBe(row.result);
        await logged([a, b], 'execution COMPLETED', [id]);
        expect(logEvents([a, b], 'execution COMPLETED', id)).toHaveLength(1);
        expect(logEvents([a], 'execution COMPLETED', id)).toHaveLength(0);
        figures('SIGSTOP executor', { jobs: 1, attempts: row.attempt, rescues: 1, stop_to_completed_ms: (row.finished_at ?? 0) - stoppedAt });
      } finally {
        a.signal('SIGCONT');
        await a.kill9();
        await b.kill9();
      }
    }, 120_000);
  });
}
