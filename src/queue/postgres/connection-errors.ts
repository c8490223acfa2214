import { QueueUnavailableError } from '../../domain/errors.js';

// Which failures of a query mean "the database cannot be reached now" (a restart, a failover, the
// network) rather than a bug: those become QueueUnavailableError (503 with Retry-After) for HTTP
// clients and a logged, retried claim for executors, instead of a 500. The statement did not
// commit, except when the answer to a COMMIT was lost: then its outcome is unknown, which is what
// a run's Idempotency-Key is for (a retry with the same key returns the first execution).

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
// SQLSTATE: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
// pg's own errors when a connection is lost or cannot be made in time (they carry no code).
const MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /connection error and is not queryable/];

export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string') {
    if (SOCKET_CODES.has(e.code) || SERVER_CODES.has(e.code) || e.code.startsWith('08')) return true; // class 08: connection exception
  }
  return typeof e?.message === 'string' && MESSAGES.some((m) => m.test(e.message as string));
}

/** Rethrows `err`, as QueueUnavailableError when it is a lost or refused connection. */
export function rethrowUnavailable(err: unknown): never {
  throw isConnectionError(err) ? new QueueUnavailableError(err) : err;
}
