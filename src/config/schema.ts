import os from 'node:os';

// Every setting codexec reads, declared once: name, description, default, parser. The unit is in
// the name. `loadConfig` parses them all and reports every invalid variable at once; the README's
// configuration table is checked against this list by a test.

type Parser<T> = (raw: string) => T;

export interface ConfigVar<T> {
  env: string;
  description: string;
  default: T;
  parse: Parser<T>;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> => (raw) => {
  if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new Error(`expected ${min}..${max}, got ${n}`);
  return n;
};
const str: Parser<string> = (raw) => raw;
const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new Error(`expected 1/0/true/false, got ${JSON.stringify(raw)}`);
};
const oneOf = <T extends string>(...values: T[]): Parser<T> => (raw) => {
  if (!values.includes(raw as T)) throw new Error(`expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
};

const MiB = 1024 * 1024;

function v<T>(env: string, def: T, parse: Parser<T>, description: string): ConfigVar<T> {
  return { env, default: def, parse, description };
}

export const CONFIG_SCHEMA = {
  port: v('CODEXEC_PORT', 8080, int(0, 65535), 'TCP port of the HTTP API'),
  host: v('CODEXEC_HOST', '0.0.0.0', str, 'Address the HTTP API listens on'),
  dataDir: v('CODEXEC_DATA_DIR', './data', str, 'Directory of the SQLite database (jobs and sessions)'),
  databaseUrl: v('CODEXEC_DATABASE_URL', '', str, 'Empty: the SQLite queue in CODEXEC_DATA_DIR (one machine). A postgres:// URL: the job queue in that PostgreSQL database, shared by serve and workers on several hosts'),
  executors: v('CODEXEC_EXECUTORS', os.availableParallelism(), int(0, 256), 'Executors embedded in `serve` (0: API-only node); default: number of CPUs'),
  workerConcurrency: v('CODEXEC_WORKER_CONCURRENCY', os.availableParallelism(), int(1, 256), 'Executions run at once by `codexec worker`'),
  logLevel: v('CODEXEC_LOG_LEVEL', 'info' as const, oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'pino log level'),
  profilesDir: v('CODEXEC_PROFILES_DIR', '', str, 'Directory of language and seccomp profiles; empty: the package\'s sandbox-profiles/'),
  url: v('CODEXEC_URL', '', str, 'For `codexec run/status`: URL of a codexec server; empty: use the local database'),

  wallTimeMs: v('CODEXEC_WALL_TIME_MS', 5000, int(100, 600_000), 'Default wall-clock limit of a run'),
  cpuTimeMs: v('CODEXEC_CPU_TIME_MS', 5000, int(100, 600_000), 'Default CPU-time limit of a run'),
  memoryBytes: v('CODEXEC_MEMORY_BYTES', 256 * MiB, int(16 * MiB), 'Default memory limit of a run (cgroup, no swap)'),
  processes: v('CODEXEC_PROCESSES', 64, int(1, 4096), 'Default limit on processes and threads of a run (cgroup pids)'),
  outputBytes: v('CODEXEC_OUTPUT_BYTES', 64 * 1024, int(1024, 16 * MiB), 'stdout and stderr kept per run, each; beyond it output is truncated and flagged'),
  fileSizeBytes: v('CODEXEC_FILE_SIZE_BYTES', 16 * MiB, int(4096), 'Largest file a run may write (RLIMIT_FSIZE)'),
  tmpfsBytes: v('CODEXEC_TMPFS_BYTES', 32 * MiB, int(MiB), 'Size of the working directory and of /tmp (each a tmpfs)'),
  cgroupParent: v('CODEXEC_CGROUP_PARENT', '', str, 'cgroup under which execution groups are made; empty: detected (v2: a delegated subtree of our own group; v1: /codexec)'),
  sandboxUidBase: v('CODEXEC_SANDBOX_UID_BASE', 200_000, int(1000, 2 ** 31 - 70_000), 'First of 65536 unprivileged uids that executions run as'),
  sandboxSpawner: v('CODEXEC_SANDBOX_SPAWNER', 'server' as const, oneOf('server', 'exec'), 'How executions start: `server`, a long-lived launcher per executor slot clones each one into fresh namespaces; `exec`, spawn util-linux `unshare ... -- launcher` per execution (slower: a fork of Node and two execs each)'),
  insecureAllowUnisolated: v('CODEXEC_INSECURE_ALLOW_UNISOLATED', false, bool, 'Run without isolation when the host cannot isolate (development only; every result carries a warning)'),

  maxSourceBytes: v('CODEXEC_MAX_SOURCE_BYTES', 64 * 1024, int(1024, 16 * MiB), 'Largest source_code accepted'),
  maxStdinBytes: v('CODEXEC_MAX_STDIN_BYTES', 64 * 1024, int(0, 16 * MiB), 'Largest stdin accepted on a run'),
  maxBodyBytes: v('CODEXEC_MAX_BODY_BYTES', 256 * 1024, int(4096, 64 * MiB), 'Largest HTTP request body'),
  requestTimeoutMs: v('CODEXEC_REQUEST_TIMEOUT_MS', 10_000, int(100), 'Time allowed to receive a whole request'),
  keepAliveTimeoutMs: v('CODEXEC_KEEP_ALIVE_TIMEOUT_MS', 5_000, int(100), 'Idle keep-alive connection timeout'),

  leaseMs: v('CODEXEC_LEASE_MS', 15_000, int(1000), 'Lease of a claimed job; renewed while it runs, rescued when it expires'),
  maxAttempts: v('CODEXEC_MAX_ATTEMPTS', 3, int(1, 20), 'Attempts per execution for transient failures (never for the program failing)'),
  retryBaseMs: v('CODEXEC_RETRY_BASE_MS', 500, int(0), 'Base of the exponential retry backoff (with full jitter)'),
  sessionIdleTtlMs: v('CODEXEC_SESSION_IDLE_TTL_MS', 24 * 3600_000, int(1000), 'A session unused this long is EXPIRED'),
  retentionMs: v('CODEXEC_RETENTION_MS', 7 * 24 * 3600_000, int(1000), 'Finished executions older than this are pruned'),
  sessionMaxInFlight: v('CODEXEC_SESSION_MAX_IN_FLIGHT', 1, int(1, 100), 'Executions a session may have queued or running at once'),
  runCooldownMs: v('CODEXEC_RUN_COOLDOWN_MS', 0, int(0), 'Minimum time between two runs of one session'),
  rateLimitRunsPerMinute: v('CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE', 120, int(0), 'Runs one client (IP or API key) may submit per minute; 0: unlimited'),
  rateLimitAutosavesPerMinute: v('CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE', 6000, int(0), 'Autosaves one client may send per minute; 0: unlimited'),
  rateLimitSessionsPerMinute: v('CODEXEC_RATE_LIMIT_SESSIONS_PER_MINUTE', 0, int(0), 'Sessions one client may create per minute; 0: unlimited'),
  queueMaxDepth: v('CODEXEC_QUEUE_MAX_DEPTH', 5000, int(1), 'Queued executions beyond which new runs get 503'),
  shutdownGraceMs: v('CODEXEC_SHUTDOWN_GRACE_MS', 20_000, int(0), 'On SIGTERM: time for running executions to finish before they are handed back'),
} as const;

type Schema = typeof CONFIG_SCHEMA;
export type Config = { readonly [K in keyof Schema]: Schema[K]['default'] extends infer D ? (D extends string ? string : D) : never };
