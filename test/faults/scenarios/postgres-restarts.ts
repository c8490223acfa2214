import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, figures, logEvents, makeTempDir, removeTempDir, type Server } from '../lib/cluster.js';
import { createOwnPostgres, type OwnPostgres } from '../lib/pg-cluster.js';
import { killAll, sleep, waitFor, type CodexecProcess } from '../lib/procs.js';

// Six fast restarts of PostgreSQL under load (issue 13): an API node (`serve --executors 0`) and
// two workers on their own hosts share a PostgreSQL cluster of this test's own, which is
// restarted six times while clients keep submitting runs. No process may die, no accepted run may
// be lost, and no program may run twice: a result that cannot be written during a restart is
// written again while the lease holds, and a claim whose answer was lost is rescued without the
// program having run. Clients retry refused requests (503 queue_unavailable) with the same
// Idempotency-Key, as the README tells them to.

const RESTARTS = 6;
const PORT = 5499;

export function postgresRestartsScenario(): void {
  describe('six fast PostgreSQL restarts under load', () => {
    let pg: OwnPostgres | null;
    let root: string;
    let cluster: Cluster;
    let api: Server;
    let workers: CodexecProcess[] = [];

    beforeAll(async () => {
      pg = createOwnPostgres(PORT);
      if (!pg) return;
      root = makeTempDir('pg-restarts');
      cluster = new Cluster(root, { CODEXEC_DATABASE_URL: pg.url, CODEXEC_WORKER_CONCURRENCY: 1, CODEXEC_RETRY_BASE_MS: 100 });
      api = await cluster.serve({ CODEXEC_EXECUTORS: 0 });
      for (let i = 0; i < 2; i++) {
        const dataDir = path.join(root, `host-${i}`);
        fs.mkdirSync(dataDir);
        workers.push(await cluster.worker({ CODEXEC_DATA_DIR: dataDir }));
      }
    }, 180_000);

    afterAll(async () => {
      api?.proc.signal('SIGTERM');
      await api?.proc.waitExit(30_000);
      for (const w of workers) await w.kill9();
      const leaked = await killAll();
      pg?.drop();
      if (root) removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    /** POST with the same Idempotency-Key until the server answers something other than 503. */
    async function persist(method: string, url: string, body: unknown, key: string): Promise<{ status: number; body: any }> {
      for (let i = 0; ; i++) {
        const r = await api.api.request(method, url, body, { 'idempotency-key': key }).catch(() => ({ status: 0, body: null, headers: new Headers() }));
        if (r.status !== 503 && r.status !== 0) return r;
        if (i > 200) throw new Error(`${method} ${url} still refused: ${r.status} ${JSON.stringify(r.body)}`);
        await sleep(100);
      }
    }

    it('no process dies, every accepted run completes, no program runs twice', async () => {
      if (!pg) throw new Error("PostgreSQL's cluster tools (pg_createcluster) are needed: run .ci/postgres.sh");
      const accepted: string[] = [];
      let stop = false;
      const client = async (c: number) => {
        for (let i = 0; !stop; i++) {
          const created = await persist('POST', '/code-sessions', { language: 'python', source_code: `import time\ntime.sleep(0.2)\nprint("c${c} r${i}")\n` }, `s-${c}-${i}`);
          if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
          const run = await persist('POST', `/code-sessions/${created.body.session_id}/run`, {}, `r-${c}-${i}`);
          if (run.status !== 202) throw new Error(`run: ${run.status} ${JSON.stringify(run.body)}`);
          accepted.push(run.body.execution_id as string);
          await sleep(150); // steady load, not a backlog the workers need minutes to drain
        }
      };
      const clients = [0, 1].map(client);
      const restartTimes: number[] = [];
      for (let r = 0; r < RESTARTS; r++) {
        await sleep(1500);
        const t0 = Date.now();
        pg!.restart();
        restartTimes.push(Date.now() - t0);
      }
      await sleep(1500);
      stop = true;
      await Promise.all(clients);

      for (const p of [api.proc, ...workers]) expect(p.alive, `${p.name} is alive`).toBe(true);
      const results = await Promise.all(
        accepted.map((id) =>
          waitFor(`${id} to finish`, async () => {
            const r = await api.api.get(`/executions/${id}?wait_ms=20000`).catch(() => null);
            return r?.status === 200 && !['QUEUED', 'RUNNING'].includes(r.body.status) ? r.body : undefined;
          }, 180_000),
        ),
      );
      const notCompleted = results.filter((e) => e.status !== 'COMPLETED');
      expect(notCompleted, JSON.stringify(notCompleted.slice(0, 3))).toEqual([]);
      const twice = accepted.filter((id) => logEvents(workers, 'execution RUNNING', id).length > 1);
      const rescued = results.filter((e) => e.attempts > 1).length;
      figures('postgres restarts', {
        restarts: RESTARTS,
        restart_ms: restartTimes.join('/'),
        runs: accepted.length,
        runs_started_twice: twice.length,
        rescued_claims: rescued,
        processes_alive: 1 + workers.length,
      });
      expect(twice).toEqual([]);
      expect(accepted.length).toBeGreaterThan(10);
      expect(new Set(accepted).size).toBe(accepted.length);
    }, 300_000);
  });
}
