import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, attemptErrors, figures, logEvents, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { killAll, sleep, waitFor, type CodexecProcess } from '../lib/procs.js';

// A job that runs longer than its lease is not rescued while its executor is alive: the executor
// renews the lease, and another executor watching for expired leases leaves it alone.

const LEASE_MS = 2000;
const JOB_SECONDS = 7; // three and a half leases

export function leaseRenewalScenario(): void {
  describe('lease renewal', () => {
    let root: string;
    let cluster: Cluster;
    let api: Server;
    let runner: CodexecProcess;
    let watcher: CodexecProcess;

    beforeAll(async () => {
      root = makeTempDir('lease');
      cluster = new Cluster(root, { CODEXEC_LEASE_MS: LEASE_MS, CODEXEC_WALL_TIME_MS: 20_000, CODEXEC_WORKER_CONCURRENCY: 1 });
      api = await cluster.serve({ CODEXEC_EXECUTORS: 0 });
      runner = await cluster.worker();
    }, 120_000);

    afterAll(async () => {
      for (const p of [api?.proc, runner, watcher]) p?.signal('SIGTERM');
      await Promise.all([api?.proc, runner, watcher].map((p) => p?.waitExit(30_000)));
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    it(`a ${JOB_SECONDS} s job under a ${LEASE_MS} ms lease completes on its first attempt while another executor watches`, async () => {
      const id = await api.api.submit(`import time\ntime.sleep(${JOB_SECONDS})\nprint("kept")\n`);
      const first = await waitFor('the claim', () => {
        const r = cluster.row(id);
        return r?.status === 'RUNNING' ? r : undefined;
      }, 60_000);
      expect(first.lease_owner).toContain(`:${runner.pid}:`);
      // A second executor, idle, runs its rescue loop every LEASE_MS / 2 for the whole job.
      watcher = await cluster.worker();
      const expiries = new Set<number>([first.lease_expires_at!]);
      for (let i = 0; i < 20 && cluster.row(id)!.status === 'RUNNING'; i++) {
        const r = cluster.row(id)!;
        if (r.lease_expires_at !== null) expiries.add(r.lease_expires_at);
        await sleep(250);
      }
      const [row] = await cluster.waitTerminal(60_000, [id], [runner, watcher]);

      expect(row.status).toBe('COMPLETED');
      expect(row.attempt).toBe(1);
      expect(attemptErrors(row)).toEqual([]);
      expect(resultOf(row).stdout).toBe('kept\n');
      expect(row.finished_at! - row.started_at!).toBeGreaterThan(JOB_SECONDS * 1000 - 500);
      // The lease moved forward while the job ran (renewed), and nobody took the job back.
      expect(expiries.size).toBeGreaterThan(2);
      expect(logEvents([runner, watcher], 'rescued executions whose executor was lost')).toEqual([]);
      expect(logEvents([runner, watcher], 'execution RUNNING', id)).toHaveLength(1);
      figures('lease renewal', { jobs: 1, lease_ms: LEASE_MS, run_ms: row.finished_at! - row.started_at!, lease_renewals_seen: expiries.size - 1, rescues: 0 });
    }, 120_000);

    it('idle workers stay up after their jobs, waiting for the next one', async () => {
      // Long enough for the pool threads to be ready and idle, and for several wake polls.
      await sleep(5000);
      const gone = [runner, watcher].filter((w) => !w.alive).map((w) => `${w.name} exited ${JSON.stringify(w.exit)} with the queue empty`);
      expect(gone).toEqual([]);
      const id = await api.api.submit('print("next")\n');
      const [row] = await cluster.waitTerminal(30_000, [id]);
      expect([row.status, resultOf(row).stdout]).toEqual(['COMPLETED', 'next\n']);
    }, 60_000);
  });
}
