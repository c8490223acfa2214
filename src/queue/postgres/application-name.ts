// Every connection codexec opens to PostgreSQL says which process role and which pool it belongs
// to, as its application_name ("codexec-worker/jobs"), so an operator reading pg_stat_activity
// sees who holds each connection, and can count them per role when sizing max_connections. It is
// the fallback name (libpq's fallback_application_name): an application_name in
// CODEXEC_DATABASE_URL, or PGAPPNAME, still wins.

/** What the process is: `serve` with executors, `serve --executors 0`, `worker`, or a CLI command. */
export type ProcessRole = 'serve' | 'serve-api' | 'worker' | 'cli';

/** The pools (and the one LISTEN connection) a process may open. */
export type ConnectionPurpose = 'jobs' | 'listen' | 'sessions' | 'session-runs';

export function applicationName(role: ProcessRole, purpose: ConnectionPurpose): string {
  return `codexec-${role}/${purpose}`;
}
