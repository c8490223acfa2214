import { Type } from '@sinclair/typebox';
import type { App, IsolationInfo, RouteContext } from '../context.js';
import { errors } from '../schemas/common.js';
import { HealthResponse, ReadyResponse, StatusResponse, type IsolationJson } from '../schemas/health.js';
import type { QueueStats } from '../../queue/job-store.js';

const TAGS = ['operations'];

function isolationJson(i: IsolationInfo): IsolationJson {
  return { level: i.level, cgroup_version: i.cgroupVersion, warnings: i.warnings };
}

/** A short, safe reason for a failed check (an error code, not a stack or a path). */
function reason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? `unreachable (${code})` : 'unreachable';
}

/** The queue's stats as the API shows them (snake_case, ISO times). */
export function statusView(s: QueueStats): StatusResponse {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    counts: s.counts,
    oldest_queued_age_ms: s.oldestQueuedAgeMs,
    executors: s.executors.map((e) => ({ id: e.id, hostname: e.hostname, pid: e.pid, slots: e.slots, busy: e.busy, started_at: iso(e.startedAt), heartbeat_at: iso(e.heartbeatAt) })),
    recent_failures: s.recentFailures.map((f) => ({ execution_id: f.id, finished_at: iso(f.finishedAt), failure_reason: f.failureReason })),
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
        summary: 'The queue at a glance: counts per state, oldest queued age, executors, recent failures',
        description: 'What `codexec status --server URL` shows.',
        response: { 200: StatusResponse, ...errors(500, 503) },
      },
    },
    async () => statusView(await jobs.stats()),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: TAGS,
        summary: 'Readiness: databases reachable, executors alive, not shutting down',
        description:
          '200 when ready, 503 otherwise, with the same body saying which check failed. A server with CODEXEC_EXECUTORS=0 ' +
          '(API only) does not wait for executors; any other waits for at least one live executor.',
        response: { 200: ReadyResponse, 503: ReadyResponse, ...errors(500) },
      },
    },
    async (req, reply) => {
      const database: { ok: boolean; error?: string } = { ok: true };
      const sessionsCheck: { ok: boolean; error?: string } = { ok: true };
      let queue: { queued: number; running: number; oldest_queued_age_ms: number | null } | null = null;
      let alive = 0;
      try {
        const stats = await jobs.stats();
        queue = { queued: stats.counts.QUEUED, running: stats.counts.RUNNING, oldest_queued_age_ms: stats.oldestQueuedAgeMs };
        alive = stats.executors.length;
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
      const executors = { ok: config.executors === 0 || alive > 0, alive, embedded: config.executors };
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
