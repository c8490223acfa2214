import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, attemptErrors, figures, makeTempDir, removeTempDir, resultOf, type Server } from '../lib/cluster.js';
import { descendants, killAll, stillRunning, waitFor, type ProcId } from '../lib/procs.js';

// kill -9 of `serve` (API and embedded executors in one process) in the middle of a burst of runs
// and autosaves from concurrent clients. After a restart on the same data directory: every run
// that was answered 202 exists and ends, every autosave answered 200 is there, no row is corrupt.

const CLIENTS = 20;
const AUTOSAVES_PER_CLIENT = 100; // 2,000 autosaves in all
const RUN_EVERY = 10; // one run after every 10th autosave: 200 runs in all
const KILL_AFTER_AUTOSAVES = 1000; // acknowledged autosaves before the kill: mid-burst

interface ClientLog {
  sessionId: string;
  lastAckRevision: number;
  lastSentRevision: number;
  acceptedRuns: string[];
  statuses: Record<number, number>;
  networkErrors: number;
  wrongRevisions: number;
  /** The Idempotency-Key of a run sent but not answered before the kill. */
  unansweredRun: string | null;
}

export function killServeScenario(): void {
  describe('serve killed during a burst of runs and autosaves', () => {
    let root: string;
    let cluster: Cluster;
    let restarted: Server | null = null;

    beforeAll(() => {
      root = makeTempDir('kill-serve');
      cluster = new Cluster(root, {
        CODEXEC_LEASE_MS: 3000,
        CODEXEC_RETRY_BASE_MS: 100,
        CODEXEC_EXECUTORS: 2,
        CODEXEC_SESSION_MAX_IN_FLIGHT: 100,
      });
    });

    afterAll(async () => {
      restarted?.proc.signal('SIGTERM');
      await restarted?.proc.waitExit(30_000);
      const leaked = await killAll();
      removeTempDir(root);
      expect(leaked).toEqual([]);
    }, 120_000);

    it('restart: every 202 run ends, every 200 autosave is kept, both databases pass integrity_check', async () => {
      const first = await cluster.serve();
      const sessions = await Promise.all(Array.from({ length: CLIENTS }, () => first.api.createSession('print(0)\n')));
      let acked = 0;
      let killedAt = 0;
      let killing: Promise<unknown> | null = null;
      let sandboxes: ProcId[] = [];
      const started = Date.now();

      const client = async (sessionId: string): Promise<ClientLog> => {
        const log: ClientLog = { sessionId, lastAckRevision: 0, lastSentRevision: 0, acceptedRuns: [], statuses: {}, networkErrors: 0, wrongRevisions: 0, unansweredRun: null };
        const count = (status: number) => (log.statuses[status] = (log.statuses[status] ?? 0) + 1);
        for (let rev = 1; rev <= AUTOSAVES_PER_CLIENT; rev++) {
          let runKey: string | null = null;
          try {
            log.lastSentRevision = rev;
            const r = await first.api.autosave(sessionId, `print(${rev})\n`, rev);
            count(r.status);
            if (r.status === 200) {
              if (r.body.revision !== rev) log.wrongRevisions++;
              log.lastAckRevision = rev;
              if (++acked === KILL_AFTER_AUTOSAVES) {
                sandboxes = descendants(first.proc.pid);
                killedAt = Date.now();
                killing = first.proc.kill9();
              }
            }
            if (rev % RUN_EVERY === 0) {
              runKey = `run-${rev}`;
              const run = await first.api.request('POST', `/code-sessions/${sessionId}/run`, {}, { 'idempotency-key': runKey });
              count(run.status);
              if (run.status === 202) log.acceptedRuns.push(run.body.execution_id as string);
            }
          } catch {
            // The server is gone: this request has no answer, so nothing was promised. Stop.
            log.networkErrors++;
            log.unansweredRun = runKey;
            break;
          }
        }
        return log;
      };

      const logs = await Promise.all(sessions.map(client));
      await killing;
      expect(first.proc.exit?.signal).toBe('SIGKILL');
      const burstMs = killedAt - started;

      // Before any restart: the files as the kill left them are sound.
      const integrityAfterKill = [cluster.integrity(cluster.jobDbFile), cluster.integrity(cluster.sessionDbFile)];
      expect(integrityAfterKill).toEqual(['ok', 'ok']);
      const atKill = cluster.countByStatus();
      // The embedded executors' sandboxes died with the process.
      expect(await waitFor('the sandboxes to end', () => stillRunning(sandboxes).length === 0 || undefined, 10_000).then(() => [], () => stillRunning(sandboxes))).toEqual([]);
      const keyed = (sid: string, key: string) =>
        cluster.read((db) => db.prepare('SELECT id FROM executions WHERE session_id = ? AND idempotency_key = ?').all(sid, key) as { id: string }[]);

      let accepted = logs.flatMap((l) => l.acceptedRuns);
      const statuses: Record<number, number> = {};
      for (const l of logs) for (const [s, n] of Object.entries(l.statuses)) statuses[Number(s)] = (statuses[Number(s)] ?? 0) + n;
      // Before the kill nothing failed: every answered request was a success.
      expect(Object.keys(statuses).sort()).toEqual(['200', '202']);
      expect(logs.reduce((n, l) => n + l.wrongRevisions, 0)).toBe(0);
      expect(accepted.length).toBeGreaterThan(0);

      const restartAt = Date.now();
      restarted = await cluster.serve();

      // A client whose run had no answer sends it again with the same Idempotency-Key: it gets
      // the execution the lost request created, if that one was stored, and a new one otherwise.
      let replayed = 0;
      let recreated = 0;
      for (const l of logs.filter((l) => l.unansweredRun !== null)) {
        const before = keyed(l.sessionId, l.unansweredRun!);
        const again = await restarted.api.request('POST', `/code-sessions/${l.sessionId}/run`, {}, { 'idempotency-key': l.unansweredRun! });
        expect(again.status, JSON.stringify(again.body)).toBe(202);
        if (before.length === 1) {
          expect(again.body.execution_id).toBe(before[0].id);
          expect(again.headers.get('idempotent-replayed')).toBe('true');
          replayed++;
        } else {
          expect(before).toEqual([]);
          recreated++;
        }
        expect(keyed(l.sessionId, l.unansweredRun!).map((r) => r.id)).toEqual([again.body.execution_id]);
        l.acceptedRuns.push(again.body.execution_id as string);
      }
      accepted = logs.flatMap((l) => l.acceptedRuns);
      const rows = await cluster.waitTerminal(300_000, accepted, [restarted.proc]);
      const drainedMs = Date.now() - restartAt;

      // Every accepted run is there, ended, and ran the code stored when it was accepted.
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(accepted.filter((id) => !byId.has(id))).toEqual([]);
      for (const id of accepted) {
        const row = byId.get(id)!;
        expect(row.status, `${id}: ${row.result}`).toBe('COMPLETED');
        const n = /^print\((\d+)\)\n$/.exec(row.source_code)?.[1];
        expect(resultOf(row).stdout).toBe(`${n}\n`);
      }
      const rescued = rows.filter((r) => attemptErrors(r).some((e) => e.code === 'lease_expired'));
      // Each attempt beyond the first is accounted for by a rescue (nothing else failed).
      for (const r of rows) expect(r.attempt).toBe(attemptErrors(r).filter((e) => e.code === 'lease_expired').length + 1);
      expect(rows.every((r) => attemptErrors(r).every((e) => e.code === 'lease_expired'))).toBe(true);
      // Nothing else is left behind: no row of any kind stays open.
      expect(cluster.rows().filter((r) => r.status === 'QUEUED' || r.status === 'RUNNING')).toEqual([]);

      // Every acknowledged autosave is reflected: the stored revision is at least the last one
      // answered 200 (it may be one more: a request sent but not answered before the kill).
      for (const l of logs) {
        const s = await restarted.api.get(`/code-sessions/${l.sessionId}`);
        expect(s.status).toBe(200);
        expect(s.body.revision).toBeGreaterThanOrEqual(l.lastAckRevision);
        expect(s.body.revision).toBeLessThanOrEqual(l.lastSentRevision);
        expect(s.body.source_code).toBe(`print(${s.body.revision})\n`);
      }
      // sessions.db stays locked by the serve that has it open (one serve per data directory):
      // its check comes after an ordered stop.
      expect(cluster.integrity(cluster.jobDbFile)).toBe('ok');
      restarted.proc.signal('SIGTERM');
      await restarted.proc.waitExit(30_000);
      expect(cluster.integrity(cluster.sessionDbFile)).toBe('ok');

      figures('kill -9 serve mid-burst', {
        clients: CLIENTS,
        autosaves_acked: acked,
        runs_accepted: accepted.length,
        unanswered_at_kill: logs.reduce((n, l) => n + l.networkErrors, 0),
        runs_retried_with_key: `${replayed} replayed/${recreated} new`,
        sandbox_processes_killed: sandboxes.length,
        burst_ms_before_kill: burstMs,
        at_kill: JSON.stringify(atKill),
        rescued_running: rescued.length,
        restart_to_drained_ms: drainedMs,
        integrity: 'ok',
      });
    }, 240_000);
  });
}
