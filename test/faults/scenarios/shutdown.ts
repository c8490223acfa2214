import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, attemptErrors, figures, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { descendants, killAll, sleep, stillRunning, waitFor, type CodexecProcess } from '../lib/procs.js';
import { workerCgroupDirs } from '../../support/cgroup-dirs.js';

// SIGTERM / SIGINT during load: `serve` refuses new requests (503 shutting_down), its executors
// claim nothing more, finish what runs within the grace period or hand it back (QUEUED, the
// attempt not spent), and the process exits 0; a second signal forces the exit. After a restart
// nothing is left RUNNING and everything handed back or cut short completes.

const LEASE_MS = 3000;

const sleeper = (seconds: number, marker: string) => `import time\ntime.sleep(${seconds})\nprint(${JSON.stringify(marker)})\n`;

export function shutdownScenario(): void {
  describe('graceful shutdown', () => {
    let root: string;
    let cluster: Cluster;
    const servers: Server[] = [];

    beforeAll(() => {
      root = makeTempDir('shutdown');
      cluster = new Cluster(root, { CODEXEC_LEASE_MS: LEASE_MS, CODEXEC_RETRY_BASE_MS: 100, CODEXEC_EXECUTORS: 2, CODEXEC_SESSION_MAX_IN_FLIGHT: 100 });
    });

    afterAll(async () => {
      for (const s of servers) s.proc.signal('SIGTERM');
      await Promise.all(servers.map((s) => s.proc.waitExit(30_000)));
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    async function serve(env: Record<string, string | number>): Promise<Server> {
      const s = await cluster.serve(env);
      servers.push(s);
      return s;
    }

    /** Restarts serve on the data dir, waits for `ids` to end, stops it cleanly; returns the rows. */
    async function restartAndFinish(ids: string[]) {
      const s = await serve({ CODEXEC_SHUTDOWN_GRACE_MS: 30_000 });
      const rows = await cluster.waitTerminal(90_000, ids, [s.proc]);
      s.proc.signal('SIGTERM');
      expect((await s.proc.waitExit(30_000)).code).toBe(0);
      return rows;
    }

    const runningRows = () => cluster.rows().filter((r) => r.status === 'RUNNING');
    const executorsRegistered = () => cluster.read((db) => (db.prepare('SELECT COUNT(*) AS n FROM executors').get() as { n: number }).n);

    /** Waits until `n` of `ids` run in `proc`'s sandboxes (their programs started). */
    async function waitRunning(proc: CodexecProcess, ids: string[], n: number): Promise<void> {
      await waitFor(`${n} jobs running`, () => cluster.rows().filter((r) => ids.includes(r.id) && r.status === 'RUNNING').length >= n || undefined, 60_000);
      await waitFor('the programs to start', () => descendants(proc.pid).filter((p) => p.comm.startsWith('python')).length >= n || undefined, 30_000, 50);
    }

    it('long grace, under load: 503 shutting_down for new requests, running jobs finish, queued ones stay queued, exit 0', async () => {
      const s = await serve({ CODEXEC_SHUTDOWN_GRACE_MS: 30_000 });
      const ids = await Promise.all([0, 1, 2, 3].map((i) => s.api.submit(sleeper(2, `long-${i}`))));
      await waitRunning(s.proc, ids, 2);

      // Load: autosaving clients that keep going through the signal, each status counted.
      let stop = false;
      const seen: Record<string, number> = {};
      const odd: string[] = [];
      const loadSessions = await Promise.all([0, 1, 2, 3].map(() => s.api.createSession('print(0)\n')));
      const load = Promise.all(
        loadSessions.map(async (sid) => {
          for (let rev = 1; !stop; rev++) {
            const r = await s.api.autosave(sid, `print(${rev})\n`).catch(() => null);
            const key = r === null ? 'no answer' : `${r.status}${r.status >= 400 ? ` ${r.body?.error?.code}` : ''}`;
            seen[key] = (seen[key] ?? 0) + 1;
            if (r !== null && r.status >= 400 && typeof r.body?.error?.code !== 'string') odd.push(`${r.status} ${JSON.stringify(r.body)}`);
            if (r === null) return;
          }
        }),
      );
      await sleep(300);
      const before = runningRows().map((r) => r.id).sort();
      expect(before).toHaveLength(2);
      const signalledAt = Date.now();
      s.proc.signal('SIGTERM');

      // Once the signal is handled: new work is refused, liveness still answers, readiness says why.
      await waitFor('readyz to report the shutdown', async () => (await s.api.get('/readyz')).body?.status === 'shutting_down' || undefined, 10_000, 20);
      const refused = await s.api.request('POST', '/code-sessions', { language: 'python', source_code: 'print(1)\n' });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('shutting_down');
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      const refusedRun = await s.api.run(loadSessions[0]);
      expect([refusedRun.status, refusedRun.body.error.code]).toEqual([503, 'shutting_down']);
      expect((await s.api.get('/healthz')).status).toBe(200);

      const exit = await s.proc.waitExit(60_000);
      const exitMs = Date.now() - signalledAt;
      stop = true;
      await load;
      expect(exit).toEqual({ code: 0, signal: null });
      // A clean stop leaves no cgroup directory of its own behind (not even empty ones).
      expect(workerCgroupDirs(s.proc.pid)).toEqual([]);

      const rows = new Map(cluster.rows().map((r) => [r.id, r]));
      for (const id of before) {
        expect(rows.get(id)!.status).toBe('COMPLETED');
        expect(rows.get(id)!.attempt).toBe(1);
      }
      const queued = ids.filter((id) => !before.includes(id));
      for (const id of queued) expect([rows.get(id)!.status, rows.get(id)!.attempt]).toEqual(['QUEUED', 0]);
      expect(runningRows()).toEqual([]);
      expect(executorsRegistered()).toBe(0);
      // Load saw only successes, then the refusal (or a closed connection once the server stopped).
      expect(seen['503 shutting_down'] ?? 0).toBeGreaterThan(0);

      const after = await restartAndFinish(queued);
      for (const r of after) {
        expect([r.status, r.attempt]).toEqual(['COMPLETED', 1]);
        expect(resultOf(r).stdout).toMatch(/^long-\d\n$/);
      }
      figures('SIGTERM, long grace', {
        jobs: ids.length,
        finished_in_grace: before.length,
        left_queued: queued.length,
        signal_to_exit_ms: exitMs,
        load_responses: JSON.stringify(seen),
        retries: 0,
      });
      // Every refusal is in the API's error shape, {"error": {"code": ...}}, also while the server
      // closes (checked last, so that a failure here does not hide the checks above).
      expect({
        unexpected: Object.keys(seen).filter((k) => !['200', '503 shutting_down', 'no answer'].includes(k)),
        notInOurShape: [...new Set(odd)],
      }).toEqual({ unexpected: [], notInOurShape: [] });
    }, 180_000);

    it('short grace (SIGINT): running jobs are handed back QUEUED with their attempt not spent, then completed after restart', async () => {
      const s = await serve({ CODEXEC_SHUTDOWN_GRACE_MS: 500 });
      const ids = await Promise.all([0, 1].map((i) => s.api.submit(sleeper(4, `short-${i}`))));
      await waitRunning(s.proc, ids, 2);
      const sandboxes = descendants(s.proc.pid);
      const signalledAt = Date.now();
      s.proc.signal('SIGINT');
      const exit = await s.proc.waitExit(30_000);
      const exitMs = Date.now() - signalledAt;
      expect(exit).toEqual({ code: 0, signal: null });

      for (const id of ids) {
        const r = cluster.row(id)!;
        expect([r.status, r.attempt, r.started_at, r.lease_owner, attemptErrors(r)]).toEqual(['QUEUED', 0, null, null, []]);
      }
      expect(runningRows()).toEqual([]);
      expect(executorsRegistered()).toBe(0);
      expect(await waitFor('the sandboxes to end', () => stillRunning(sandboxes).length === 0 || undefined, 10_000).then(() => [], () => stillRunning(sandboxes))).toEqual([]);

      const after = await restartAndFinish(ids);
      for (const r of after) {
        expect([r.status, r.attempt, attemptErrors(r)]).toEqual(['COMPLETED', 1, []]);
        expect(resultOf(r).stdout).toMatch(/^short-\d\n$/);
      }
      figures('SIGINT, short grace', { jobs: ids.length, handed_back: ids.length, signal_to_exit_ms: exitMs, retries: 0 });
    }, 180_000);

    it('a second signal forces the exit at once; the restarted server rescues what was running', async () => {
      const s = await serve({ CODEXEC_SHUTDOWN_GRACE_MS: 60_000 });
      const id = await s.api.submit(sleeper(4, 'forced'));
      await waitRunning(s.proc, [id], 1);
      const sandboxes = descendants(s.proc.pid);
      const signalledAt = Date.now();
      s.proc.signal('SIGTERM');
      await waitFor('the drain to begin', async () => (await s.api.get('/readyz').catch(() => null))?.body?.status === 'shutting_down' || undefined, 10_000, 20);
      s.proc.signal('SIGTERM');
      const exit = await s.proc.waitExit(10_000);
      const exitMs = Date.now() - signalledAt;
      expect(exit.code).toBe(130);
      // Forced: the job was neither finished nor handed back; its lease will expire.
      expect(cluster.row(id)!.status).toBe('RUNNING');
      expect(await waitFor('the sandboxes to end', () => stillRunning(sandboxes).length === 0 || undefined, 10_000).then(() => [], () => stillRunning(sandboxes))).toEqual([]);

      const [r] = await restartAndFinish([id]);
      expect([r.status, r.attempt, attemptErrors(r).map((e) => e.code)]).toEqual(['COMPLETED', 2, ['lease_expired']]);
      expect(resultOf(r).stdout).toBe('forced\n');
      expect(runningRows()).toEqual([]);
      figures('second signal', { jobs: 1, exit_code: exit.code, signal_to_exit_ms: exitMs, rescues: 1, attempts: r.attempt });
    }, 180_000);

    it('a worker on SIGTERM with a short grace hands its job back too, and exits 0', async () => {
      const api = await serve({ CODEXEC_EXECUTORS: 0 });
      const w = await cluster.worker({ CODEXEC_SHUTDOWN_GRACE_MS: 500, CODEXEC_WORKER_CONCURRENCY: 1 });
      const id = await api.api.submit(sleeper(4, 'worker'));
      await waitRunning(w, [id], 1);
      w.signal('SIGTERM');
      expect(await w.waitExit(30_000)).toEqual({ code: 0, signal: null });
      const handed = cluster.row(id)!;
      expect([handed.status, handed.attempt]).toEqual(['QUEUED', 0]);

      const w2 = await cluster.worker({ CODEXEC_SHUTDOWN_GRACE_MS: 30_000, CODEXEC_WORKER_CONCURRENCY: 1 });
      const [r] = await cluster.waitTerminal(60_000, [id], [w2]);
      expect([r.status, r.attempt, attemptErrors(r)]).toEqual(['COMPLETED', 1, []]);
      w2.signal('SIGTERM');
      expect(await w2.waitExit(30_000), w2.logTail()).toEqual({ code: 0, signal: null });
      api.proc.signal('SIGTERM');
      expect((await api.proc.waitExit(30_000)).code).toBe(0);
      figures('worker SIGTERM, short grace', { jobs: 1, handed_back: 1, attempts: r.attempt });
    }, 180_000);
  });
}
