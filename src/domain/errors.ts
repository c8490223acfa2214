// Every error a client or operator can see is one of these classes, with a stable code and an
// HTTP status. The README's error table lists every code (a test checks).
export class CodexecError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details?: Record<string, unknown>;
  /** Seconds a client should wait before retrying (sets Retry-After). */
  readonly retryAfterSeconds?: number;

  constructor(
    code: string,
    statusCode: number,
    message: string,
    opts: { details?: Record<string, unknown>; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    this.details = opts.details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export class InvalidRequestError extends CodexecError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_request', 400, message, { details });
  }
}

export class NotFoundError extends CodexecError {
  constructor(what: 'session' | 'execution' | 'route', id: string) {
    super(`${what}_not_found`, 404, what === 'route' ? `no route ${id}` : `no ${what} with id ${JSON.stringify(id)}`);
  }
}

export class PayloadTooLargeError extends CodexecError {
  constructor(code: 'source_too_large' | 'stdin_too_large' | 'body_too_large' | 'expected_output_too_large', limitBytes: number) {
    super(code, 413, `${code.replace(/_/g, ' ')}: the limit is ${limitBytes} bytes`, { details: { limit_bytes: limitBytes } });
  }
}

export class UnsupportedLanguageError extends CodexecError {
  constructor(language: string, reason: 'unknown' | 'toolchain_missing' = 'unknown') {
    super(
      'unsupported_language',
      422,
      reason === 'unknown'
        ? `language ${JSON.stringify(language)} is not supported (GET /languages lists them)`
        : `language ${JSON.stringify(language)} is known but its toolchain is not installed on this host`,
      { details: { language, reason } },
    );
  }
}

export class SessionClosedError extends CodexecError {
  constructor(sessionId: string, status: string) {
    super('session_closed', 409, `session ${sessionId} is ${status}; create a new session`, { details: { status } });
  }
}

export class IdempotencyConflictError extends CodexecError {
  constructor() {
    super('idempotency_key_reused', 409, 'this Idempotency-Key was already used with a different request body');
  }
}

export class RevisionConflictError extends CodexecError {
  constructor(storedRevision: number) {
    super('stale_revision', 409, `a newer revision (${storedRevision}) is already stored`, { details: { revision: storedRevision } });
  }
}

export class RateLimitedError extends CodexecError {
  constructor(message: string, retryAfterSeconds: number, code = 'rate_limited') {
    super(code, 429, message, { retryAfterSeconds });
  }
}

export class QueueFullError extends CodexecError {
  constructor(depth: number, retryAfterSeconds: number) {
    super('queue_full', 503, `the execution queue is full (${depth} waiting); retry later`, { retryAfterSeconds, details: { depth } });
  }
}

/** The job queue's database (PostgreSQL) cannot be reached now; a retry may succeed. */
export class QueueUnavailableError extends CodexecError {
  constructor(cause: unknown) {
    super('queue_unavailable', 503, "the job queue's database cannot be reached; retry shortly", { retryAfterSeconds: 2, cause });
  }
}

export class ShuttingDownError extends CodexecError {
  constructor() {
    super('shutting_down', 503, 'the server is shutting down', { retryAfterSeconds: 5 });
  }
}

export class ConfigError extends CodexecError {
  constructor(problems: string[]) {
    super('invalid_config', 500, `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  }
}

export class ProfileError extends CodexecError {
  constructor(file: string, problems: string[]) {
    super('invalid_profile', 500, `invalid sandbox profile ${file}:\n  - ${problems.join('\n  - ')}`, { details: { file, problems } });
  }
}

export class DataDirInUseError extends CodexecError {
  constructor(file: string) {
    super(
      'data_dir_in_use',
      500,
      `another codexec serve already uses ${file}: run one serve per data directory (scale executors with \`codexec worker\`, or give each serve its own CODEXEC_DATA_DIR)`,
      { details: { file } },
    );
  }
}

export class IsolationUnavailableError extends CodexecError {
  constructor(missing: string[]) {
    super(
      'isolation_unavailable',
      500,
      `this host cannot isolate executions (${missing.join('; ')}). Run \`codexec doctor\`; ` +
        'set CODEXEC_INSECURE_ALLOW_UNISOLATED=1 only for local development',
      { details: { missing } },
    );
  }
}

/** The sandbox could not be set up: transient, retried by the executor. */
export class SandboxSetupError extends CodexecError {
  constructor(step: string, message: string, cause?: unknown) {
    super('sandbox_error', 500, `sandbox setup failed at ${step}: ${message}`, { details: { step }, cause });
  }
}

export class InternalError extends CodexecError {
  constructor(message = 'internal error', cause?: unknown) {
    super('internal_error', 500, message, { cause });
  }
}

export class SessionBusyError extends CodexecError {
  constructor(inFlightExecutionId: string, retryAfterSeconds = 1) {
    super('session_busy', 429, `this session already has an execution in flight (${inFlightExecutionId}); wait for it to finish`, {
      retryAfterSeconds,
      details: { execution_id: inFlightExecutionId },
    });
  }
}

/** The request body could not be parsed: not JSON, or not UTF-8. */
export class MalformedBodyError extends CodexecError {
  constructor(message = 'the request body is not valid JSON') {
    super('invalid_json', 400, message);
  }
}

export class UnsupportedMediaTypeError extends CodexecError {
  constructor(contentType: string) {
    super('unsupported_media_type', 415, `content type ${JSON.stringify(contentType.slice(0, 100))} is not supported; send application/json`);
  }
}

/** The quotas of an API key (keys/api-key.ts), as `details.quota` names them. */
export type Quota = 'runs_per_minute' | 'executions_in_flight' | 'sessions';

const QUOTA_WORDS: Record<Quota, string> = {
  runs_per_minute: 'runs per minute',
  executions_in_flight: 'executions queued or running at once',
  sessions: 'sessions open at once',
};

/** An API key's quota (executions in flight, runs per minute, sessions) is used up. */
export class QuotaExceededError extends CodexecError {
  readonly quota: Quota;
  /** `quota`: also the queue's older wording, 'executions in flight'. */
  constructor(quota: Quota | 'executions in flight', limit: number, retryAfterSeconds = 1) {
    const q: Quota = quota === 'executions in flight' ? 'executions_in_flight' : quota;
    super('quota_exceeded', 429, `this API key's quota of ${limit} ${QUOTA_WORDS[q]} is used up; retry later`, { retryAfterSeconds, details: { quota: q, limit } });
    this.quota = q;
  }
}

/** CODEXEC_AUTH=keys: the request has no key, or one this server does not accept (401). */
export class AuthenticationError extends CodexecError {
  constructor(reason: 'api_key_missing' | 'api_key_invalid' | 'api_key_revoked') {
    const messages = {
      api_key_missing: 'this server needs an API key: send "Authorization: Bearer <key>" (keys are made with `codexec keys create`)',
      api_key_invalid: 'the API key is not one of this server\'s keys (send "Authorization: Bearer <key>", the key as `codexec keys create` printed it)',
      api_key_revoked: 'this API key was revoked; ask the operator for a new one',
    } as const;
    super(reason, 401, messages[reason]);
  }
}

/** A cancel of an execution that already ended for another reason. */
export class ExecutionFinishedError extends CodexecError {
  constructor(id: string, status: string) {
    super('execution_finished', 409, `execution ${id} already ended (${status}); there is nothing to cancel`, { details: { status } });
  }
}

/** Text that UTF-8 cannot carry as sent (a lone surrogate): what would run differs from what was shown. */
export class InvalidTextError extends CodexecError {
  constructor(field: string, index: number) {
    super('invalid_text', 400, `${field} has a lone UTF-16 surrogate at index ${index}: it cannot be stored or given to the program as sent`, {
      details: { field, index },
    });
  }
}

/** A field of a compatible API (Judge0, Piston) that codexec cannot honour: refused, never ignored. */
export class UnsupportedFieldError extends CodexecError {
  constructor(field: string, message: string) {
    super('unsupported_field', 422, `${field}: ${message}`, { details: { field } });
  }
}

/** A compatible API asked for a limit above the language's maximum (codexec's own API clamps instead). */
export class LimitAboveMaximumError extends CodexecError {
  constructor(field: string, maximum: number, unit: string) {
    super('limit_above_maximum', 422, `${field}: must be at most ${maximum} (${unit}), the language's maximum here`, { details: { field, maximum } });
  }
}

/** A field sent base64- or hex-encoded that does not decode, or does not decode to UTF-8 text. */
export class InvalidEncodingError extends CodexecError {
  constructor(field: string, encoding: string, problem: string) {
    super('invalid_encoding', 400, `${field}: ${problem} (${encoding})`, { details: { field, encoding } });
  }
}

/** A synchronous compatible API (Piston) waited as long as it may; the run was canceled. */
export class ResultWaitTimeoutError extends CodexecError {
  constructor(waitedMs: number) {
    super('result_wait_timeout', 504, `the run did not finish within ${Math.round(waitedMs / 1000)} s (its limits plus time in the queue); it was canceled`, {
      details: { waited_ms: waitedMs },
    });
  }
}

/** A run's callback_url is not an http(s) URL codexec can call. */
export class InvalidCallbackUrlError extends CodexecError {
  constructor(reason: string) {
    super('invalid_callback_url', 400, `callback_url: ${reason}`);
  }
}

/** A run's callback_url names an address webhooks may not reach (loopback, private, metadata...). */
export class CallbackUrlRefusedError extends CodexecError {
  constructor(address: string, range: string) {
    super('callback_url_refused', 422, `callback_url: ${address} is ${range}; webhooks may not reach it unless CODEXEC_WEBHOOK_ALLOW allows it`, {
      details: { address, range },
    });
  }
}

/** A run asked for a webhook but this server has no CODEXEC_WEBHOOK_SECRET to sign one with. */
export class WebhooksDisabledError extends CodexecError {
  constructor() {
    super('webhooks_disabled', 422, 'callback_url needs webhooks, which are off on this server (CODEXEC_WEBHOOK_SECRET is not set)');
  }
}

/** This API process serves as many event streams as it may (CODEXEC_EVENTS_MAX_READERS). */
export class TooManyEventStreamsError extends CodexecError {
  constructor(limit: number) {
    super('too_many_event_streams', 503, `this server already serves ${limit} event streams; retry later or poll GET /executions/{id}`, {
      retryAfterSeconds: 5,
      details: { limit },
    });
  }
}
