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
      alive: Type.Integer({ minimum: 0, description: 'Executor processes with a recent heartbeat, in every process on this database' }),
      anywhere: Type.Boolean({ description: 'At least one executor is alive, here or in any other process on this database: runs submitted now will start' }),
      embedded: Type.Integer({ minimum: 0, description: 'CODEXEC_EXECUTORS of this server; 0 = API-only node, which does not wait for executors' }),
      warning: Type.Optional(Type.String({ description: 'An API-only node is ready without executors, but says when none is alive anywhere: runs queue until a worker starts' })),
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

/** Why an execution ended FAILED or TIMEOUT: on our side (the platform), or the program's own doing. */
export const FailureOrigin = StringEnum(['platform', 'program'] as const, {
  description: 'platform: codexec could not run it (internal_error, sandbox_error): look at the logs; program: the learner\'s code failed, timed out or was canceled',
});

export const StatusWarning = Type.Object({
  code: StringEnum(['no_live_executor', 'stale_executor', 'stale_api_node', 'platform_failures'] as const),
  message: Type.String(),
});
export type StatusWarning = Static<typeof StatusWarning>;

export const StatusResponse = Type.Object({
  version: Type.String({ description: 'codexec version of the process that answered' }),
  time: Type.String({ format: 'date-time', description: 'When this status was read' }),
  uptime_ms: Nullable(Type.Integer({ minimum: 0, description: 'Time since the server started; null when read from the local database by `codexec status`' })),
  isolation: Nullable(IsolationJson),
  database: StringEnum(['sqlite', 'postgres'] as const, { description: 'Where the job queue is' }),
  counts: Type.Object({
    QUEUED: Type.Integer({ minimum: 0 }),
    RUNNING: Type.Integer({ minimum: 0 }),
    COMPLETED: Type.Integer({ minimum: 0 }),
    FAILED: Type.Integer({ minimum: 0 }),
    TIMEOUT: Type.Integer({ minimum: 0 }),
  }),
  oldest_queued_age_ms: Nullable(Type.Integer({ minimum: 0 })),
  executors_alive: Type.Integer({ minimum: 0, description: 'Executors whose last heartbeat is more recent than one lease (CODEXEC_LEASE_MS)' }),
  executors: Type.Array(
    Type.Object({
      id: Type.String(),
      hostname: Type.String(),
      pid: Type.Integer(),
      slots: Type.Integer({ minimum: 0 }),
      busy: Type.Integer({ minimum: 0 }),
      started_at: Type.String({ format: 'date-time' }),
      heartbeat_at: Type.String({ format: 'date-time' }),
      heartbeat_age_ms: Type.Integer({ minimum: 0 }),
      stale: Type.Boolean({ description: 'No heartbeat for longer than one lease: stuck or gone (forgotten after three leases)' }),
    }),
    { description: 'Executors that sent a heartbeat within three leases, in every process on this database' },
  ),
  api_nodes: Type.Array(
    Type.Object({
      id: Type.String(),
      hostname: Type.String(),
      pid: Type.Integer(),
      version: Type.String({ description: 'codexec version the node runs' }),
      address: Type.String({ description: 'host:port it listens on (CODEXEC_HOST, CODEXEC_PORT; the host name when it listens on every address)' }),
      executors: Type.Integer({ minimum: 0, description: 'Embedded executor slots; 0: API only' }),
      started_at: Type.String({ format: 'date-time' }),
      heartbeat_at: Type.String({ format: 'date-time' }),
      heartbeat_age_ms: Type.Integer({ minimum: 0 }),
      stale: Type.Boolean({ description: 'No heartbeat for longer than one lease: stopped without a clean shutdown, or stuck (forgotten after three leases)' }),
    }),
    { description: 'API nodes (`codexec serve`) that sent a heartbeat within three leases, on this database' },
  ),
  recent_failures: Type.Array(
    Type.Object({
      execution_id: Type.String(),
      finished_at: Type.String({ format: 'date-time' }),
      failure_reason: Nullable(Type.String()),
      origin: FailureOrigin,
    }),
    { description: 'The last FAILED or TIMEOUT executions, newest first' },
  ),
  warnings: Type.Array(StatusWarning, { description: 'What an operator should look at now' }),
});
export type StatusResponse = Static<typeof StatusResponse>;
