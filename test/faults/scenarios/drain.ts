import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueuePython } from '../lib/enqueue.js';
import { Cluster, attemptErrors, figures, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { killAll } from '../lib/procs.js';

// A deep queue drains to terminal states with none lost: the jobs are inserted through the job
// store (as the API would, without HTTP in the way), then `serve` starts on the backlog with its
// embedded executors and runs every one.

// The issue names 2,000. On the 2-core development machine a run of print(1) costs ~200 ms of
// sandbox per slot (about 10 runs a second with 2 executors), so 2,000 take ~200 s, more than this
// suite's budget; 1,000 is the default and FAULTS_DRAIN_JOBS=2000 runs the figure.
const JOBS = Number(process.env.FAULTS_DRAIN_JOBS ?? 1000);
const EXECUTORS = Number(process.env.FAULTS_DRAIN_EXECUTORS ?? 2);
// A floor of 2 runs a second (an overloaded 2-core machine); a real stall fails rather than hangs.
const WAIT_MS = Math.max(120_000, JOBS * 500);

export function drainScenario(): void {
  describe('a deep queue drains', () => {
    let root: string;
    let cluster: Cluster;
    let server: Server | null = null;

    beforeAll(() => {
      root = makeTempDir('drain');
      cluster = new Cluster(root, { CODEXEC_EXECUTORS: EXECUTORS });
    });

    afterAll(async () => {
      server?.proc.signal('SIGTERM');
      await server?.proc.waitExit(30_000);
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    it(`${JOBS} queued runs reach a terminal state, none lost, none run twice`, async () => {
      const insertStarted = Date.now();
      const ids = await enqueuePython(cluster.jobDbFile, Array.from({ length: JOBS }, (_, i) => `print(${i})\n`), { profilesDir: cluster.profilesDir });
      const insertMs = Date.now() - insertStarted;
      expect(cluster.countByStatus()).toEqual({ QUEUED: JOBS });

      const started = Date.now();
      server = await cluster.serve();
      const rows = await cluster.waitTerminal(WAIT_MS, ids, [server.proc]);
      const drainMs = Date.now() - started;

      expect(rows).toHaveLength(JOBS);
      const byStatus: Record<string, number> = {};
      for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      const bad = rows.filter((r) => r.status !== 'COMPLETED' || r.attempt !== 1 || resultOf(r).stdout !== `${r.source_code.slice(6, -2)}\n`);
      expect(bad.slice(0, 5).map((r) => `${r.id} ${r.status} attempt=${r.attempt} ${r.errors} ${r.result?.slice(0, 200)}`)).toEqual([]);
      const retried = rows.filter((r) => attemptErrors(r).length > 0).length;

      // The sandbox's own time: from the first start to the last finish, without serve's startup.
      const firstStart = Math.min(...rows.map((r) => r.started_at ?? Infinity));
      const lastFinish = Math.max(...rows.map((r) => r.finished_at ?? 0));
      figures('drain', {
        jobs: JOBS,
        executors: EXECUTORS,
        statuses: JSON.stringify(byStatus),
        retries: retried,
        insert_ms: insertMs,
        drain_ms: drainMs,
        runs_per_s: (JOBS / (lastFinish - firstStart)) * 1000,
        first_start_to_last_finish_ms: lastFinish - firstStart,
      });
    }, WAIT_MS + 120_000);
  });
}
