import os from 'node:os';
import { bool, bytes, defaultDataDir, dir, httpUrl, int, listOf, oneOf, str, type Parser } from './parsers.js';
import { allowListParser } from '../webhooks/allow-list.js';
import { secretParser } from '../webhooks/signature.js';
import { apiKeyParser } from '../keys/api-key.js';

// Every setting codexec reads, declared once: name, description, default, parser. The unit is in
// the name. `loadConfig` parses them all and reports every invalid variable at once; the
// configuration table of docs/configuration.md is generated from this list (test/docs checks it),
// and `codexec --help` prints it.

export type { Parser };

export interface ConfigVar<T> {
  env: string;
  description: string;
  default: T;
  parse: Parser<T>;
  /** The default in words, when it depends on the machine (CPUs, the user). */
  defaultText?: string;
}

const MiB = 1024 * 1024;

function v<T>(env: string, def: T, parse: Parser<T>, description: string, opts: { defaultText?: string } = {}): ConfigVar<T> {
  return { env, default: def, parse, description, ...opts };
}

const CPUS = { defaultText: 'number of CPUs' };

export const CONFIG_SCHEMA = {
  port: v('CODEXEC_PORT', 8080, int(0, 65535), 'TCP port of the HTTP API (`serve --port`)'),
  host: v('CODEXEC_HOST', '0.0.0.0', str, 'Address the HTTP API listens on (`serve --host`); the default is every interface: see docs/security.md'),
  dataDir: v('CODEXEC_DATA_DIR', defaultDataDir(), dir, 'Directory of the SQLite databases (`codexec.db` for jobs, `sessions.db` for sessions); `serve`, `worker`, `run` and `status` must agree on it', {
    defaultText: '`/var/lib/codexec` as root, else `$XDG_DATA_HOME/codexec` (`~/.local/share/codexec`)',
  }),
  databaseUrl: v('CODEXEC_DATABASE_URL', '', str, 'Empty: the job queue is SQLite in CODEXEC_DATA_DIR (one machine). `postgres://user:password@host:5432/db`: the job queue is in that PostgreSQL database, shared by `serve` and by `worker`s on other hosts (docs/several-hosts.md)'),
  executors: v('CODEXEC_EXECUTORS', os.availableParallelism(), int(0, 256), 'Executors embedded in `serve` (`--executors`; 0: an API-only node)', CPUS),
  workerConcurrency: v('CODEXEC_WORKER_CONCURRENCY', os.availableParallelism(), int(1, 256), 'Executions run at once by `codexec worker` (`--concurrency`)', CPUS),
  workerMetricsPort: v('CODEXEC_WORKER_METRICS_PORT', 0, int(0, 65535), '`codexec worker` serves its own Prometheus metrics (`/metrics`: executions, queue wait, run time, retries, rescues) and `/healthz` on this TCP port of CODEXEC_HOST; 0: off. API nodes count only their own executions: scrape every worker'),
  logLevel: v('CODEXEC_LOG_LEVEL', 'info' as const, oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'Level of the JSON log lines (pino) on stdout'),
  profilesDir: v('CODEXEC_PROFILES_DIR', '', dir, 'Directory of language and seccomp profiles (it holds `languages/` and `seccomp/`); empty: the package\'s `sandbox-profiles/`'),
  auth: v('CODEXEC_AUTH', 'none' as const, oneOf('none', 'keys'), '`none`: no authentication (an appliance on a private network; docs/security.md). `keys`: every route but /healthz, /readyz, /metrics and the API description needs `Authorization: Bearer <key>` (keys made with `codexec keys create`), and a key sees only its own sessions and executions'),
  authCacheMs: v('CODEXEC_AUTH_CACHE_MS', 5000, int(0, 300_000), 'How long an API node trusts a key it looked up, in ms: a revoked key stops working on every node within this time (0: look every request up)'),
  apiKey: v('CODEXEC_API_KEY', '', apiKeyParser, 'For `codexec run --server` and `codexec status --server`: the API key they send (`Authorization: Bearer`) to a server with CODEXEC_AUTH=keys; empty: none'),
  url: v('CODEXEC_URL', '', httpUrl, 'For `codexec run` and `codexec status`: URL of a codexec server (`--server`); empty: use the local database'),

  wallTimeMs: v('CODEXEC_WALL_TIME_MS', 5000, int(100, 600_000), 'Default wall-clock limit of a run, in ms'),
  cpuTimeMs: v('CODEXEC_CPU_TIME_MS', 5000, int(100, 600_000), 'Default CPU-time limit of a run, in ms'),
  memoryBytes: v('CODEXEC_MEMORY_BYTES', 256 * MiB, bytes(16 * MiB), 'Default memory limit of a run (cgroup, no swap)'),
  processes: v('CODEXEC_PROCESSES', 64, int(1, 4096), 'Default limit on processes and threads of a run (cgroup pids)'),
  outputBytes: v('CODEXEC_OUTPUT_BYTES', 64 * 1024, bytes(1024, 16 * MiB), 'stdout and stderr kept per run, each; beyond it output is truncated and flagged, and a program writing 16 times as much is killed (`output_limit`)'),
  fileSizeBytes: v('CODEXEC_FILE_SIZE_BYTES', 16 * MiB, bytes(4096), 'Largest file a run may write (`RLIMIT_FSIZE`)'),
  tmpfsBytes: v('CODEXEC_TMPFS_BYTES', 32 * MiB, bytes(MiB), 'Size of the working directory and of `/tmp` of a run (each a tmpfs)'),
  cgroupParent: v('CODEXEC_CGROUP_PARENT', '', str, 'cgroup under which execution groups are made; empty: detected (v2: a delegated subtree of our own group; v1: `/codexec`)'),
  sandboxUidBase: v('CODEXEC_SANDBOX_UID_BASE', 200_000, int(1000, 2 ** 31 - 70_000), 'First of 65536 unprivileged uids that executions run as'),
  insecureAllowUnisolated: v('CODEXEC_INSECURE_ALLOW_UNISOLATED', false, bool, 'Run without isolation when the host cannot isolate (development only: learners\' code then runs unconfined; every result carries a warning)'),

  maxSourceBytes: v('CODEXEC_MAX_SOURCE_BYTES', 64 * 1024, bytes(1024, 16 * MiB), 'Largest `source_code` accepted (`413 source_too_large`)'),
  maxStdinBytes: v('CODEXEC_MAX_STDIN_BYTES', 64 * 1024, bytes(0, 16 * MiB), 'Largest `stdin` accepted on a run (`413 stdin_too_large`)'),
  maxTestCases: v('CODEXEC_MAX_TEST_CASES', 20, int(1, 100), 'Test cases one run may carry; each case\'s stdin and expected output are capped like `stdin` and the output limit'),
  maxBodyBytes: v('CODEXEC_MAX_BODY_BYTES', 256 * 1024, bytes(4096, 64 * MiB), 'Largest HTTP request body (`413 body_too_large`)'),
  requestTimeoutMs: v('CODEXEC_REQUEST_TIMEOUT_MS', 10_000, int(100), 'Time allowed to receive a request\'s headers, in ms (`408 request_timeout`); a connection silent for twice as long while its body arrives is closed'),
  keepAliveTimeoutMs: v('CODEXEC_KEEP_ALIVE_TIMEOUT_MS', 5_000, int(100), 'An idle keep-alive connection is closed after this many ms'),

  leaseMs: v('CODEXEC_LEASE_MS', 15_000, int(1000), 'Lease of a claimed job, in ms; renewed while it runs, rescued when it expires. An executor silent for a lease is shown stale; for three, it is forgotten'),
  maxAttempts: v('CODEXEC_MAX_ATTEMPTS', 3, int(1, 20), 'Attempts per execution for failures on our side (never for the program failing)'),
  retryBaseMs: v('CODEXEC_RETRY_BASE_MS', 500, int(0), 'Base of the exponential retry backoff, in ms (full jitter, capped at 30 s)'),
  sessionIdleTtlMs: v('CODEXEC_SESSION_IDLE_TTL_MS', 24 * 3600_000, int(1000), 'A session unused this long (ms; default 24 h) is `EXPIRED`'),
  retentionMs: v('CODEXEC_RETENTION_MS', 7 * 24 * 3600_000, int(1000), 'Finished executions, and closed or expired sessions, older than this (ms; default 7 days) are deleted'),
  sessionMaxInFlight: v('CODEXEC_SESSION_MAX_IN_FLIGHT', 1, int(1, 100), 'Executions a session may have queued or running at once (`429 session_busy`)'),
  runCooldownMs: v('CODEXEC_RUN_COOLDOWN_MS', 0, int(0), 'Minimum time between two runs of one session, in ms (`429 run_cooldown`)'),
  rateLimitRunsPerMinute: v('CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE', 120, int(0), 'Runs one client (`X-Api-Key`, else IP address) may submit per minute; 0: unlimited'),
  rateLimitAutosavesPerMinute: v('CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE', 6000, int(0), 'Autosaves one client may send per minute; 0: unlimited'),
  rateLimitSessionsPerMinute: v('CODEXEC_RATE_LIMIT_SESSIONS_PER_MINUTE', 0, int(0), 'Sessions one client may create per minute; 0: unlimited'),
  queueMaxDepth: v('CODEXEC_QUEUE_MAX_DEPTH', 5000, int(1), 'When this many executions are queued, new runs get `503 queue_full`'),
  compat: v('CODEXEC_COMPAT', [] as ('judge0' | 'piston')[], listOf('judge0', 'piston'), 'Compatible APIs served beside codexec\'s own, over the same submit path, limits and sandbox: `judge0` (Judge0 CE subset under `/judge0`), `piston` (Piston v2 subset under `/api/v2`); off unless listed: they take runs without a session (docs/compat.md)', { defaultText: 'empty (none)' }),
  maxBatchRuns: v('CODEXEC_MAX_BATCH_RUNS', 20, int(1, 100), 'Runs one `POST /executions/batch` may carry (each still passes every limit, quota and rate limit)'),
  eventsHeartbeatMs: v('CODEXEC_EVENTS_HEARTBEAT_MS', 15_000, int(100, 600_000), 'Interval of the heartbeat comment on `GET /executions/{id}/events` streams, in ms (keeps idle streams open through proxies)'),
  eventsReaderBufferBytes: v('CODEXEC_EVENTS_READER_BUFFER_BYTES', MiB, bytes(16 * 1024, 64 * MiB), 'Unsent bytes one event stream may hold in the server; a reader that falls further behind is disconnected (it resumes with Last-Event-ID), the run goes on'),
  eventsMaxReaders: v('CODEXEC_EVENTS_MAX_READERS', 10_000, int(1, 1_000_000), 'Event streams one API process serves at once (`503 too_many_event_streams` beyond)'),
  webhookSecret: v('CODEXEC_WEBHOOK_SECRET', '', secretParser, 'Key of the HMAC-SHA256 signature of webhooks (`X-Codexec-Signature`); empty: webhooks are off and runs with `callback_url` get `422 webhooks_disabled`'),
  webhookAllow: v('CODEXEC_WEBHOOK_ALLOW', Object.freeze([]) as readonly string[], allowListParser, 'CIDRs, addresses and host names webhooks may reach although they are loopback, private, link-local, unique-local, multicast, cloud metadata or reserved (refused otherwise)', { defaultText: 'empty (none)' }),
  webhookTimeoutMs: v('CODEXEC_WEBHOOK_TIMEOUT_MS', 10_000, int(100, 120_000), 'Time allowed for one webhook attempt, in ms: resolving, connecting, sending and the response (at most 64 KiB of it is read)'),
  webhookMaxAttempts: v('CODEXEC_WEBHOOK_MAX_ATTEMPTS', 10, int(1, 30), 'Attempts per webhook before it is recorded as failed (a refused address is not retried)'),
  webhookRetryBaseMs: v('CODEXEC_WEBHOOK_RETRY_BASE_MS', 5000, int(0, 3_600_000), 'Delay before the first webhook retry, in ms; it doubles at each attempt (at most 1 h), the upper half at random (defaults: 10 attempts over about 20 to 40 minutes)'),
  shutdownGraceMs: v('CODEXEC_SHUTDOWN_GRACE_MS', 20_000, int(0), 'On SIGTERM: time (ms) for running executions to finish before they are handed back to the queue'),
} as const;

type Schema = typeof CONFIG_SCHEMA;
export type Config = { readonly [K in keyof Schema]: Schema[K]['default'] extends infer D ? (D extends string ? string : D) : never };
