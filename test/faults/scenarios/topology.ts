import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSchema, describePostgres, withClient, DATABASE_URL, type TestSchema } from '../../queue/postgres-helpers.js';
import { BalancedClient, RoundRobinBalancer, type Answer } from '../lib/balancer.js';
import { Cluster, figures, makeTempDir, removeTempDir, type Server } from '../lib/cluster.js';
import { BIN, childEnv, freePort, killAll, waitFor, type CodexecProcess } from '../lib/procs.js';
import { connectionsOf } from '../lib/pg-connections.js';

// The several-hosts topology of docs/several-hosts.md, as processes on this machine (issue 13):
// two API nodes (`serve --executors 0`), each with its own data directory, behind a round-robin
// load balancer; two workers, each with its own data directory; one PostgreSQL schema, the only
// thing they share. 20 learners each create a session, autosave, run and read their result, every
// step through the balancer, which sends each new connection to the other node than the last: a
// session is created on one node and autosaved and read on the other. Then what an operator
// sees: `codexec status` (the real binary) lists both API nodes and both workers; each process's
// connections carry its role in application_name; the workers' /metrics count the runs the API
// nodes did not run; a killed API node is flagged stale; an API-only node's /readyz says when no
// executor is alive anywhere.

const LEARNERS = 20;
const LEASE_MS = 3000; // API nodes heartbeat every second; stale after 3 s

const execFileP = promisify(execFile);

export function topologyScenario(): void {
  describePostgres('two API nodes behind a load balancer, two workers, one PostgreSQL', () => {
    let schema: TestSchema;
    let root: string;
    let cluster: Cluster;
    const nodes: Server[] = [];
    const workers: CodexecProcess[] = [];
    const metricsPorts: number[] = [];
    let lb: RoundRobinBalancer;
    let client: BalancedClient;

    /** A directory of its own, as another host would have. */
    function hostDir(name: string): string {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      return dir;
    }

    beforeAll(async () => {
      schema = await createSchema();
      root = makeTempDir('topology');
      cluster = new Cluster(root, {
        CODEXEC_DATABASE_URL: schema.url,
        CODEXEC_LEASE_MS: LEASE_MS,
        CODEXEC_WORKER_CONCURRENCY: 2,
        CODEXEC_LOG_LEVEL: 'warn',
      });
      for (const name of ['api-a', 'api-b']) nodes.push(await cluster.serve({ CODEXEC_EXECUTORS: 0, CODEXEC_DATA_DIR: hostDir(name) }));
      for (const name of ['worker-a', 'worker-b']) {
        const port = await freePort();
        metricsPorts.push(port);
        workers.push(await cluster.worker({ CODEXEC_DATA_DIR: hostDir(name), CODEXEC_WORKER_METRICS_PORT: port, CODEXEC_LOG_LEVEL: 'info' }));
      }
      lb = await RoundRobinBalancer.start(nodes.map((n) => n.port));
      client = new BalancedClient(lb);
    }, 180_000);

    afterAll(async () => {
      await lb?.close();
      for (const p of [...nodes.map((n) => n.proc), ...workers]) p.signal('SIGTERM');
      for (const p of [...nodes.map((n) => n.proc), ...workers]) await p.waitExit(30_000).catch(() => p.kill9());
      const leaked = await killAll();
      await schema?.drop();
      if (root) removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    /** `codexec status --json` (or text) through the real binary, reading the shared database. */
    async function status(json: boolean): Promise<string> {
      const env = childEnv({ CODEXEC_DATABASE_URL: schema.url, CODEXEC_DATA_DIR: hostDir(`cli-${Date.now()}`), CODEXEC_PROFILES_DIR: cluster.profilesDir, CODEXEC_LEASE_MS: LEASE_MS });
      const { stdout } = await execFileP(process.execPath, [BIN, 'status', ...(json ? ['--json'] : [])], { env, timeout: 60_000 });
      return stdout;
    }

    it('every learner completes create, autosave, run and read, each session created on one node and used on the other', async () => {
      const learners = Array.from({ length: LEARNERS }, (_, i) => i);
      const expectStatus = (a: Answer, status: number, what: string) => expect(a.status, `${what}: ${JSON.stringify(a.body)}`).toBe(status);
      // Steps go in rounds (every learner's create, then every autosave...), the learners of a
      // round at once; one extra request between rounds moves each learner to the other node.
      const shift = async () => expectStatus(await client.request('GET', '/healthz'), 200, 'healthz');
      const created = await Promise.all(learners.map(() => client.request('POST', '/code-sessions', { language: 'python', source_code: '' })));
      created.forEach((a, i) => expectStatus(a, 201, `learner ${i} create`));
      await shift();
      const saved = await Promise.all(
        learners.map((i) => client.request('PATCH', `/code-sessions/${created[i]!.body.session_id}`, { source_code: `print("learner ${i}")\n` })),
      );
      saved.forEach((a, i) => expectStatus(a, 200, `learner ${i} autosave`));
      await shift();
      const runs = await Promise.all(learners.map((i) => client.request('POST', `/code-sessions/${created[i]!.body.session_id}/run`)));
      runs.forEach((a, i) => expectStatus(a, 202, `learner ${i} run`));
      await shift();
      const results = await Promise.all(learners.map((i) => client.request('GET', `/executions/${runs[i]!.body.execution_id}?wait_ms=30000`)));
      results.forEach((a, i) => {
        expectStatus(a, 200, `learner ${i} read`);
        expect(a.body.status, JSON.stringify(a.body)).toBe('COMPLETED');
        expect(a.body.stdout).toBe(`learner ${i}\n`);
        expect(a.body.attempts).toBe(1);
      });
      // Each learner's session was made on one node, saved and read on the other, run on the first.
      for (const i of learners) {
        expect(saved[i]!.node, `learner ${i}`).not.toBe(created[i]!.node);
        expect(results[i]!.node, `learner ${i}`).toBe(saved[i]!.node);
        expect(runs[i]!.node, `learner ${i}`).toBe(created[i]!.node);
      }
      const perNode = [0, 1].map((n) => created.filter((a) => a.node === n).length);
      expect(perNode).toEqual([LEARNERS / 2, LEARNERS / 2]);
      figures('topology journey', { learners: LEARNERS, completed: results.filter((a) => a.body.status === 'COMPLETED').length, sessions_created_per_node: perNode.join('/') });
    }, 240_000);

    it('`codexec status` lists both API nodes and both workers; every connection says its role', async () => {
      const s = JSON.parse(await status(true));
      expect(s.database).toBe('postgres');
      expect(s.api_nodes).toHaveLength(2);
      expect(s.api_nodes.map((n: { pid: number }) => n.pid).sort()).toEqual(nodes.map((n) => n.proc.pid).sort());
      for (const n of s.api_nodes) expect(n).toMatchObject({ executors: 0, stale: false, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
      expect(s.executors).toHaveLength(2);
      expect(s.executors.map((e: { pid: number }) => e.pid).sort()).toEqual(workers.map((w) => w.pid).sort());
      expect(s.executors_alive).toBe(2);
      expect(s.counts.COMPLETED).toBe(LEARNERS);
      expect(s.warnings).toEqual([]);
      const text = await status(false);
      expect(text).toContain('executors alive: 2\n');
      expect(text).toContain('API nodes alive: 2\n');

      // application_name: role and pool of each connection, per process (the figures say how many).
      const perProcess: Record<string, string> = {};
      for (const [name, pids, role] of [
        ['api', nodes.map((n) => n.proc.pid), 'serve-api'],
        ['worker', workers.map((w) => w.pid), 'worker'],
      ] as const) {
        for (const [i, pid] of pids.entries()) {
          const byName = await connectionsOf(DATABASE_URL, pid);
          const names = Object.keys(byName);
          expect(names.length, `${name} ${i}: ${JSON.stringify(byName)}`).toBeGreaterThan(0);
          for (const n of names) expect(n.startsWith(`codexec-${role}/`), n).toBe(true);
          expect(byName[`codexec-${role}/listen`], `${name} ${i}: ${JSON.stringify(byName)}`).toBe(1);
          expect(byName[`codexec-${role}/jobs`]).toBeGreaterThan(0);
          if (role === 'serve-api') expect(byName['codexec-serve-api/sessions']).toBeGreaterThan(0);
          perProcess[`${name}${i}`] = Object.entries(byName).map(([k, v]) => `${k.split('/')[1]}:${v}`).join(',');
        }
      }
      figures('topology connections', perProcess);
    }, 120_000);

    it('the workers\' /metrics count the runs; the API nodes\' queue gauges are global', async () => {
      let completed = 0;
      for (const port of metricsPorts) {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        expect(res.status).toBe(200);
        const text = await res.text();
        completed += Number(/^codexec_executions_total\{outcome="completed"\} (\d+)$/m.exec(text)?.[1] ?? 0);
        expect(text).toMatch(/^codexec_executors\{state="idle",scope="process"\} 2$/m); // its own slots, all free now
        expect(text).not.toMatch(/^codexec_queue_depth\{/m);
        expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      }
      expect(completed).toBe(LEARNERS);
      for (const n of nodes) {
        const text = (await n.api.get('/metrics')).body as string;
        expect(text).toContain(`codexec_queue_depth{status="COMPLETED",scope="global"} ${LEARNERS}`);
        // Slots of both workers, as their last heartbeats (every 2 s) report them busy or idle.
        const slots = ['busy', 'idle'].map((state) => Number(new RegExp(`^codexec_executors\\{state="${state}",scope="global"\\} (\\d+)$`, 'm').exec(text)?.[1]));
        expect(slots[0]! + slots[1]!).toBe(4);
        expect(text).not.toMatch(/^codexec_executions_total\{/m); // an API-only node runs nothing
      }
    }, 60_000);

    it('a killed API node is flagged stale; with no worker left, an API-only node stays ready and says no executor is alive; a stopped one is gone', async () => {
      const ready = await nodes[0]!.api.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.executors).toMatchObject({ ok: true, alive: 2, anywhere: true, embedded: 0 });
      expect(ready.body.checks.executors.warning).toBeUndefined();

      await nodes[1]!.proc.kill9();
      const stale = await waitFor(
        'the killed API node to be flagged stale',
        async () => {
          const s = JSON.parse(await status(true));
          return s.api_nodes.some((n: { pid: number; stale: boolean }) => n.pid === nodes[1]!.proc.pid && n.stale) ? s : undefined;
        },
        30_000,
        500,
      );
      expect(stale.warnings.map((w: { code: string }) => w.code)).toEqual(['stale_api_node']);
      expect(await status(false)).toMatch(new RegExp(`:${nodes[1]!.proc.pid}:\\S+ +127\\.0\\.0\\.1:${nodes[1]!.port} .* STALE`));
      // The surviving node sees the same through the API.
      expect((await nodes[0]!.api.get('/status')).body.api_nodes.find((n: { pid: number }) => n.pid === nodes[1]!.proc.pid)).toMatchObject({ stale: true });

      for (const w of workers) w.signal('SIGTERM'); // a clean stop removes their rows at once
      for (const w of workers) await w.waitExit(30_000);
      const alone = await nodes[0]!.api.get('/readyz');
      expect(alone.status).toBe(200);
      expect(alone.body.checks.executors).toMatchObject({ ok: true, alive: 0, anywhere: false, embedded: 0, warning: expect.stringMatching(/no executor is alive/) });

      // A clean stop removes the node's row at once: only the killed one is left, stale.
      nodes[0]!.proc.signal('SIGTERM');
      expect(await nodes[0]!.proc.waitExit(30_000)).toEqual({ code: 0, signal: null });
      const after = JSON.parse(await status(true));
      expect(after.api_nodes.map((n: { pid: number; stale: boolean }) => [n.pid, n.stale])).toEqual([[nodes[1]!.proc.pid, true]]);
      expect(after.executors).toEqual([]);
    }, 120_000);
  });
}
