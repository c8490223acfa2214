import { Type } from '@sinclair/typebox';
import type { App, IsolationInfo, RouteContext } from '../context.js';
import { errors } from '../schemas/common.js';
import { HealthResponse, ReadyResponse, StatusResponse, type IsolationJson } from '../schemas/health.js';
import type { QueueStats } from '../../queue/job-store.js';
import { codexecVersion } from '../../config/version.js';

const TAGS = ['operations'];

function isolationJson(i: IsolationInfo): IsolationJson {
  return { level: i.level, cgroup_version: i.cgroupVersion, warnings: i.warnings };
}

/** A short, safe reason for a failed check (an error code, not a stack or a path). */
function reason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? `unreachable (${code})` : 'unreachable';
}

/** Failure reasons that mean codexec itself could not run the program; every other one is the program's. */
export const PLATFORM_FAILURE_REASONS: ReadonlySet<string> = new Set(['internal_error', 'sandbox_error']);

export interface StatusContext {
  version: string;
  now: number;
  /** An executor without a heartbeat for this long is shown stale (one lease: its leases are expiring too). */
  staleAfterMs: number;
  uptimeMs: number | null;
  isolation: IsolationInfo | null;
  database: 'sqlite' | 'postgres';
}

/** Executors whose heartbeat is recent: the ones that can take work now. */
export function liveExecutors(s: Pick<QueueStats, 'executors'>, now: number, staleAfterMs: number): number {
  return s.executors.filter((e) => now - e.heartbeatAt <= staleAfterMs).length;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** The queue's stats as GET /status and `codexec status --json` show them, with what needs attention. */
export function statusView(s: QueueStats, ctx: StatusContext): StatusResponse {
  const iso = (ms: number) => new Date(ms).toISOString();
  const executors = s.executors.map((e) => {
    const age = Math.max(0, ctx.now - e.heartbeatAt);
    return { id: e.id, hostname: e.hostname, pid: e.pid, slots: e.slots, busy: e.busy, started_at: iso(e.startedAt), heartbeat_at: iso(e.heartbeatAt), heartbeat_age_ms: age, stale: age > ctx.staleAfterMs };
  });
  const alive = executors.filter((e) => !e.stale).length;
  const apiNodes = s.apiNodes.map((n) => {
    const age = Math.max(0, ctx.now - n.heartbeatAt);
    return { id: n.id, hostname: n.hostname, pid: n.pid, version: n.version, address: n.address, executors: n.executors, started_at: iso(n.startedAt), heartbeat_at: iso(n.heartbeatAt), heartbeat_age_ms: age, stale: age > ctx.staleAfterMs };
  });
  const failures = s.recentFailures.map((f) => ({
    execution_id: f.id,
    finished_at: iso(f.finishedAt),
    failure_reason: f.failureReason,
    origin: f.failureReason !== null && PLATFORM_FAILURE_REASONS.has(f.failureReason) ? ('platform' as const) : ('program' as const),
  }));
  const warnings: StatusResponse['warnings'] = [];
  if (s.counts.QUEUED > 0 && alive === 0) {
    warnings.push({
      code: 'no_live_executor',
      message: `${s.counts.QUEUED} execution(s) queued and no executor alive: nothing will run them until \`codexec serve\` (with executors) or \`codexec worker\` runs on this database`,
    });
  }
  for (const e of executors.filter((x) => x.stale)) {
    warnings.push({ code: 'stale_executor', message: `executor ${e.id} has sent no heartbeat for ${seconds(e.heartbeat_age_ms)}: stuck or gone; its jobs go back to the queue when their leases expire` });
  }
  for (const n of apiNodes.filter((x) => x.stale)) {
    warnings.push({ code: 'stale_api_node', message: `API node ${n.id} (${n.address}) has sent no heartbeat for ${seconds(n.heartbeat_age_ms)}: stopped without a clean shutdown, or stuck; check that the load balancer no longer sends it requests` });
  }
  const platform = failures.filter((f) => f.origin === 'platform').length;
  if (platform > 0) {
    warnings.push({ code: 'platform_failures', message: `${platform} of the last ${failures.length} failures were on codexec's side (${[...new Set(failures.filter((f) => f.origin === 'platform').map((f) => f.failure_reason))].join(', ')}): see the logs` });
  }
  return {
    version: ctx.version,
    time: iso(ctx.now),
    uptime_ms: ctx.uptimeMs,
    isolation: ctx.isolation ? isolationJson(ctx.isolation) : null,
    database: ctx.database,
    counts: s.counts,
    oldest_queued_age_ms: s.oldestQueuedAgeMs,
    executors_alive: alive,
    executors,
    api_nodes: apiNodes,
    recent_failures: failures,
    warnings,
  };
}

export function healthRoutes(app: App, ctx: RouteContext): void {
  const { config, jobs, sessions, metrics, control } = ctx;

  app.get(
    '/healthz',
    {
      schema: {
        tags: TAGS,
        summary: 'Liveness: the process answers',
        description: 'Always 200 while the process serves requests, even during shutdown; use /readyz to route traffic.',
        response: { 200: HealthResponse, ...errors(500) },
      },
    },
    async () => ({ status: 'ok' as const, isolation: isolationJson(ctx.isolation()) }),
  );

  app.get(
    '/status',
    {
      schema: {
        tags: TAGS,
        summary: 'The queue at a glance: counts per state, oldest queued age, executors, API nodes, recent failures, warnings',
        description:
          'What `codexec status --server URL` shows (and `codexec status --json` prints, in this shape). Executors and API nodes ' +
          'without a heartbeat for one lease (CODEXEC_LEASE_MS) are marked stale; failures are split by origin (platform: codexec could ' +
          'not run it; program: the learner\'s code); warnings name what needs attention (queued work and no live executor, stale ' +
          'executors, stale API nodes, platform failures).',
        response: { 200: StatusResponse, ...errors(500, 503) },
      },
    },
    async () => {
      const now = Date.now();
      return statusView(await jobs.stats(now), {
        version: codexecVersion(),
        now,
        staleAfterMs: config.leaseMs,
        uptimeMs: Math.round(process.uptime() * 1000),
        isolation: ctx.isolation(),
        database: config.databaseUrl.trim() === '' ? 'sqlite' : 'postgres',
      });
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: TAGS,
        summary: 'Readiness: databases reachable, executors alive, not shutting down',
        description:
          '200 when ready, 503 otherwise, with the same body saying which check failed. A server with CODEXEC_EXECUTORS=0 ' +
          '(API only) does not wait for executors, and says in checks.executors (anywhere, warning) whether any executor is alive ' +
          'in any process on its database; any other server waits for at least one live executor.',
        response: { 200: ReadyResponse, 503: ReadyResponse, ...errors(500) },
      },
    },
    async (req, reply) => {
      const database: { ok: boolean; error?: string } = { ok: true };
      const sessionsCheck: { ok: boolean; error?: string } = { ok: true };
      let queue: { queued: number; running: number; oldest_queued_age_ms: number | null } | null = null;
      let alive = 0;
      try {
        const now = Date.now();
        const live = await jobs.readiness(now);
        queue = { queued: live.queued, running: live.running, oldest_queued_age_ms: live.oldestQueuedAgeMs };
        alive = liveExecutors(live, now, config.leaseMs);
      } catch (err) {
        req.log.warn({ err }, 'readiness: job database check failed');
        database.ok = false;
        database.error = reason(err);
      }
      if (ctx.executorsAlive) {
        try {
          alive = await ctx.executorsAlive();
        } catch (err) {
          req.log.warn({ err }, 'readiness: executors check failed');
          alive = 0;
        }
      }
      try {
        await sessions.ping();
      } catch (err) {
        req.log.warn({ err }, 'readiness: session database check failed');
        sessionsCheck.ok = false;
        sessionsCheck.error = reason(err);
      }
      // An API-only node stays ready without executors (the balancer keeps sending it requests,
      // whose runs wait QUEUED), and says so when none is alive anywhere.
      const executors: ReadyResponse['checks']['executors'] = { ok: config.executors === 0 || alive > 0, alive, anywhere: alive > 0, embedded: config.executors };
      if (config.executors === 0 && alive === 0 && database.ok) {
        executors.warning = 'no executor is alive on this database: runs are accepted and stay QUEUED until a `codexec worker` (or a serve with executors) starts';
      }
      const ready = database.ok && sessionsCheck.ok && executors.ok;
      const status = control.shuttingDown ? 'shutting_down' : ready ? 'ready' : 'not_ready';
      return reply.code(status === 'ready' ? 200 : 503).send({
        status,
        checks: { database, sessions: sessionsCheck, executors },
        isolation: isolationJson(ctx.isolation()),
        queue,
      });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: TAGS,
        summary: 'Prometheus metrics',
        description:
          'Text exposition format: codexec_queue_depth{status}, codexec_executions_total{outcome}, codexec_queue_wait_seconds, ' +
          'codexec_run_seconds, codexec_executors{state}, codexec_retries_total, codexec_rescues_total, codexec_runs_submitted_total, ' +
          'codexec_http_requests_total, and process metrics.',
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text format' }), ...errors(500) },
      },
    },
    async (_req, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.type(contentType).send(body);
    },
  );
}
