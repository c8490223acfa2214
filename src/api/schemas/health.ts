import { Type, type Static } from '@sinclair/typebox';
import { Nullable, StringEnum } from './common.js';

export const IsolationJson = Type.Object({
  level: StringEnum(['full', 'insecure', 'api_only'] as const, {
    description: 'full: executions here run fully isolated; insecure: CODEXEC_INSECURE_ALLOW_UNISOLATED is on and this host cannot isolate; api_only: this server runs no executions (CODEXEC_EXECUTORS=0), its workers report their own isolation',
  }),
  cgroup_version: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type IsolationJson = Static<typeof IsolationJson>;

export const HealthResponse = Type.Object({
  status: StringEnum(['ok'] as const),
  isolation: IsolationJson,
});
export type HealthResponse = Static<typeof HealthResponse>;

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) });

export const ReadyResponse = Type.Object({
  status: StringEnum(['ready', 'not_ready', 'shutting_down'] as const),
  checks: Type.Object({
    database: Check,
    sessions: Check,
    executors: Type.Object({
      ok: Type.Boolean(),
      alive: Type.Integer({ minimum: 0, description: 'Executor processes with a recent heartbeat' }),
      embedded: Type.Integer({ minimum: 0, description: 'CODEXEC_EXECUTORS of this server; 0 = API-only node, which does not wait for executors' }),
    }),
  }),
  isolation: IsolationJson,
  queue: Nullable(
    Type.Object({
      queued: Type.Integer({ minimum: 0 }),
      running: Type.Integer({ minimum: 0 }),
      oldest_queued_age_ms: Nullable(Type.Integer({ minimum: 0 })),
    }),
  ),
});
export type ReadyResponse = Static<typeof ReadyResponse>;

export const StatusResponse = Type.Object({
  counts: Type.Object({
    QUEUED: Type.Integer({ minimum: 0 }),
    RUNNING: Type.Integer({ minimum: 0 }),
    COMPLETED: Type.Integer({ minimum: 0 }),
    FAILED: Type.Integer({ minimum: 0 }),
    TIMEOUT: Type.Integer({ minimum: 0 }),
  }),
  oldest_queued_age_ms: Nullable(Type.Integer({ minimum: 0 })),
  executors: Type.Array(
    Type.Object({
      id: Type.String(),
      hostname: Type.String(),
      pid: Type.Integer(),
      slots: Type.Integer({ minimum: 0 }),
      busy: Type.Integer({ minimum: 0 }),
      started_at: Type.String({ format: 'date-time' }),
      heartbeat_at: Type.String({ format: 'date-time' }),
    }),
    { description: 'Executors with a recent heartbeat, in every process on this database' },
  ),
  recent_failures: Type.Array(
    Type.Object({ execution_id: Type.String(), finished_at: Type.String({ format: 'date-time' }), failure_reason: Nullable(Type.String()) }),
    { description: 'The last FAILED or TIMEOUT executions, newest first' },
  ),
});
export type StatusResponse = Static<typeof StatusResponse>;
