import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSchema, describePostgres, type TestSchema } from '../../queue/postgres-helpers.js';
import { Cluster, figures, logEvents, logged, makeTempDir, removeTempDir, type Server } from '../lib/cluster.js';
import { descendants, killAll, stillRunning, waitFor, type CodexecProcess } from '../lib/procs.js';

// Several hosts on one PostgreSQL queue: `serve --executors 0` and two workers, each with its own
// data directory (nothing shared through files: the database is the only channel, and NOTIFY the
// only wake-up besides the 1 s fallback poll). Runs go through the HTTP API and are read back with
// long polling. The database is the one of CODEXEC_TEST_DATABASE_URL, in a fresh schema.

const LEASE_MS = 3000;
const RUNS = 12;

export function postgresScenario(): void {
  describePostgres('several hosts on one PostgreSQL queue', () => {
    let root: string;
    let cluster: Cluster;
    let api: Server;
    let schema: TestSchema;

    beforeAll(async () => {
      schema = await createSchema();
      root = makeTempDir('postgres');
      cluster = new Cluster(root, {
        CODEXEC_DATABASE_URL: schema.url,
        CODEXEC_LEASE_MS: LEASE_MS,
        CODEXEC_RETRY_BASE_MS: 100,
        CODEXEC_WORKER_CONCURRENCY: 1,
      });
      api = await cluster.serve({ CODEXEC_EXECUTORS: 0 });
    }, 120_000);

    afterAll(async () => {
      api?.proc.signal('SIGTERM');
      await api?.proc.waitExit(30_000);
      const leaked = await killAll();
      await schema?.drop();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    /** A worker as on another host: its own data directory. */
    function workerOnItsOwnHost(): Promise<CodexecProcess> {
      const dataDir = path.join(root, `host-${randomUUID().slice(0, 8)}`);
      fs.mkdirSync(dataDir);
      return cluster.worker({ CODEXEC_DATA_DIR: dataDir });
    }

    async function result(id: string): Promise<Record<string, any>> {
      const r = await api.api.get(`/executions/${id}?wait_ms=30000`);
      expect(r.status).toBe(200);
      return r.body as Record<string, any>;
    }

    it('workers on two hosts share the runs submitted to the API: each run completes once, with its own output', async () => {
      const [a, b] = [await workerOnItsOwnHost(), await workerOnItsOwnHost()];
      try {
        const ids: string[] = [];
        for (let i = 0; i < RUNS; i++) ids.push(await api.api.submit(`import time\ntime.sleep(0.3)\nprint("run ${i}")\n`));
        const done = await Promise.all(ids.map((id) => waitFor(`${id} to finish`, async () => {
          const e = await result(id);
          return ['QUEUED', 'RUNNING'].includes(e.status as string) ? undefined : e;
        }, 120_000)));
        done.forEach((e, i) => {
          expect(e.status, JSON.stringify(e)).toBe('COMPLETED');
          expect(e.stdout).toBe(`run ${i}\n`);
          expect(e.attempts).toBe(1);
        });
        // Each run recorded once, by one of the two workers; both took part.
        await logged([a, b], 'execution COMPLETED', ids);
        const byA = ids.filter((id) => logEvents([a], 'execution COMPLETED', id).length === 1);
        const byB = ids.filter((id) => logEvents([b], 'execution COMPLETED', id).length === 1);
        for (const id of ids) expect(logEvents([a, b], 'execution COMPLETED', id)).toHaveLength(1);
        expect(byA.length + byB.length).toBe(RUNS);
        expect(byA.length).toBeGreaterThan(0);
        expect(byB.length).toBeGreaterThan(0);
        const waits = done.map((e) => Date.parse(e.started_at as string) - Date.parse(e.queued_at as string)).sort((x, y) => x - y);
        figures('postgres two workers', { runs: RUNS, by_a: byA.length, by_b: byB.length, queue_wait_min_ms: waits[0], queue_wait_median_ms: waits[Math.floor(waits.length / 2)] });
      } finally {
        await a.kill9();
        await b.kill9();
      }
    }, 180_000);

    it('kill -9 of the worker running a job: the other host rescues it after the lease, and it completes once', async () => {
      const b = await workerOnItsOwnHost();
      b.signal('SIGSTOP'); // the rescuer waits until the victim has the job
      const a = await workerOnItsOwnHost();
      try {
        const marker = `marker-${randomUUID()}`;
        const id = await api.api.submit(`import time\ntime.sleep(3)\nprint(${JSON.stringify(marker)})\n`);
        await waitFor('worker A to run the job', () => logEvents([a], 'execution RUNNING', id).length === 1, 30_000, 50);
        await waitFor('the sandboxed program to start', () => descendants(a.pid).some((p) => p.comm.startsWith('python')), 20_000, 50);
        b.signal('SIGCONT');
        const sandbox = descendants(a.pid);
        await a.kill9();
        await waitFor('the killed worker\'s sandbox to end', () => stillRunning(sandbox).length === 0, 10_000);
        const e = await waitFor('the rescued run to finish', async () => {
          const r = await result(id);
          return ['QUEUED', 'RUNNING'].includes(r.status as string) ? undefined : r;
        }, 60_000);
        expect(e.status, JSON.stringify(e)).toBe('COMPLETED');
        expect(e.stdout).toBe(`${marker}\n`);
        expect(e.attempts).toBe(2);
        expect((e.attempt_errors as { code: string }[]).map((x) => x.code)).toEqual(['lease_expired']);
        await logged([a, b], 'execution COMPLETED', [id]);
        expect(logEvents([a, b], 'execution COMPLETED', id)).toHaveLength(1);
        expect(logEvents([b], 'execution COMPLETED', id)).toHaveLength(1);
      } finally {
        b.signal('SIGCONT');
        await a.kill9();
        await b.kill9();
      }
    }, 180_000);
  });
}
