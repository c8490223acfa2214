import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, attemptErrors, figures, logEvents, logged, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { killAll, type CodexecProcess } from '../lib/procs.js';

// Four `codexec worker` processes and one API-only `serve` on one SQLite file, under a burst of
// runs with autosaves in between: every response is a success (no SQLITE_BUSY, no 5xx reaches a
// client) and every job runs exactly once.

const WORKERS = 4;
const CLIENTS = Number(process.env.FAULTS_CONTENTION_CLIENTS ?? 40);
const RUNS_PER_CLIENT = 10; // CLIENTS x 10 runs (400 by default), each after an autosave

export function contentionScenario(): void {
  describe('four workers and one API on one SQLite file', () => {
    let root: string;
    let cluster: Cluster;
    let api: Server;
    let workers: CodexecProcess[] = [];

    beforeAll(async () => {
      root = makeTempDir('contention');
      // The default lease (15 s): nothing is killed here, and a run twice must mean a double claim,
      // not a live executor's lease expiring on a loaded machine.
      cluster = new Cluster(root, { CODEXEC_SESSION_MAX_IN_FLIGHT: 100, CODEXEC_WORKER_CONCURRENCY: 1 });
      [api, ...workers] = await Promise.all([
        cluster.serve({ CODEXEC_EXECUTORS: 0 }),
        ...Array.from({ length: WORKERS }, () => cluster.worker()),
      ]) as [Server, ...CodexecProcess[]];
    }, 120_000);

    afterAll(async () => {
      for (const p of [api?.proc, ...workers]) p?.signal('SIGTERM');
      const exits = await Promise.all([api?.proc, ...workers].map((p) => p?.waitExit(30_000)));
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
      expect(exits.map((e) => e?.code)).toEqual(Array(WORKERS + 1).fill(0));
    }, 120_000);

    it(`${CLIENTS * RUNS_PER_CLIENT} concurrent runs with autosaves: no SQLITE_BUSY or 5xx reaches a client, no job runs twice`, async () => {
      const statuses: Record<string, number> = {};
      const failures: string[] = [];
      const note = (what: string, status: number, body: unknown, want: number) => {
        statuses[`${what} ${status}`] = (statuses[`${what} ${status}`] ?? 0) + 1;
        if (status !== want) failures.push(`${what} ${status} ${JSON.stringify(body).slice(0, 300)}`);
      };
      const accepted: { id: string; source: string }[] = [];
      const started = Date.now();

      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          const created = await api.api.request('POST', '/code-sessions', { language: 'python', source_code: 'print(0)\n' });
          note('create', created.status, created.body, 201);
          if (created.status !== 201) return;
          const sid = created.body.session_id as string;
          for (let i = 1; i <= RUNS_PER_CLIENT; i++) {
            const source = `print(${c * 1000 + i})\n`;
            const saved = await api.api.autosave(sid, source);
            note('autosave', saved.status, saved.body, 200);
            const run = await api.api.run(sid);
            note('run', run.status, run.body, 202);
            if (run.status === 202) accepted.push({ id: run.body.execution_id as string, source });
          }
        }),
      );
      const submittedMs = Date.now() - started;
      expect(failures).toEqual([]);
      expect(accepted).toHaveLength(CLIENTS * RUNS_PER_CLIENT);

      const rows = await cluster.waitTerminal(600_000, accepted.map((a) => a.id), workers);
      const drainedMs = Date.now() - started;

      // Each job: claimed once (attempt 1, no attempt error), finished once, with its own output.
      const sourceOf = new Map(accepted.map((a) => [a.id, a.source]));
      const wrong = rows.filter(
        (r) =>
          r.status !== 'COMPLETED' ||
          r.attempt !== 1 ||
          attemptErrors(r).length !== 0 ||
          r.started_at === null ||
          r.finished_at === null ||
          r.source_code !== sourceOf.get(r.id) ||
          resultOf(r).stdout !== r.source_code.slice('print('.length, -2) + '\n',
      );
      expect(wrong.map((r) => `${r.id} ${r.status} attempt=${r.attempt} ${r.errors}`)).toEqual([]);

      // The executors' own account: one RUNNING and one COMPLETED line per execution, in all logs.
      await logged(workers, 'execution COMPLETED', rows.map((r) => r.id));
      const running = logEvents(workers, 'execution RUNNING');
      const completed = logEvents(workers, 'execution COMPLETED');
      const perId = (lines: Record<string, unknown>[]) => {
        const m = new Map<string, number>();
        for (const l of lines) m.set(String(l.execution_id), (m.get(String(l.execution_id)) ?? 0) + 1);
        return m;
      };
      const runningPerId = perId(running);
      const completedPerId = perId(completed);
      expect(rows.filter((r) => runningPerId.get(r.id) !== 1 || completedPerId.get(r.id) !== 1).map((r) => r.id)).toEqual([]);
      expect(running).toHaveLength(rows.length);

      // No lock error anywhere, not even one an executor retried quietly.
      const busy = [api.proc, ...workers].filter((p) => /SQLITE_BUSY|database is locked/.test(p.log())).map((p) => p.name);
      expect(busy).toEqual([]);
      const housekeeping = [api.proc, ...workers].flatMap((p) =>
        p.logLines().filter((l) => l.msg === 'claim failed' || l.msg === 'executor housekeeping failed'),
      );
      expect(housekeeping).toEqual([]);

      // The workers are still there: none quit while the queue was momentarily empty.
      expect(workers.filter((w) => !w.alive).map((w) => `${w.name} exited ${JSON.stringify(w.exit)}`)).toEqual([]);
      const perWorker = workers.map((w) => running.filter((l) => l.pid === w.pid).length);
      expect(perWorker.every((n) => n > 0)).toBe(true);
      figures('4 workers + API on one SQLite file', {
        runs: rows.length,
        autosaves: statuses['autosave 200'],
        responses: JSON.stringify(statuses),
        per_worker: perWorker.join('/'),
        retries: 0,
        submit_ms: submittedMs,
        drain_ms: drainedMs,
        runs_per_s: (rows.length / drainedMs) * 1000,
      });
    }, 300_000);
  });
}
