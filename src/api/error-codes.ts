// Every error code a client or operator can meet, with its HTTP status and what it means. The
// README's error table is checked against this list, and a test checks that every code made by
// src/domain/errors.ts appears here.
//
// scope: `http` codes are API responses ({"error": {"code", "message", "details"?}}); `connection`
// codes are written by the HTTP server before a request reaches a route (same JSON shape);
// `startup` codes stop `serve`/`worker` with a message; `execution` codes are recorded on an
// execution's attempts (the client sees failure_reason internal_error or sandbox_error).

export interface ErrorCodeInfo {
  status: number;
  scope: 'http' | 'connection' | 'startup' | 'execution' | 'cli';
  description: string;
}

export const ERROR_CODES = {
  invalid_request: { status: 400, scope: 'http', description: 'A field, header or query parameter is missing, of the wrong type or out of range; the message names it' },
  invalid_json: { status: 400, scope: 'http', description: 'The request body is not valid JSON (or not UTF-8)' },
  invalid_text: { status: 400, scope: 'http', description: 'source_code, stdin or an expected output holds a lone UTF-16 surrogate (e.g. "\\ud800"), which cannot reach the program as sent; details.field and details.index name it' },
  invalid_encoding: { status: 400, scope: 'http', description: 'Judge0 `base64_encoded=true` or a Piston file `encoding`: a field that is not valid base64 / hex, or does not decode to UTF-8 text; details.field names it' },
  invalid_callback_url: { status: 400, scope: 'http', description: 'callback_url is not an absolute http:// or https:// URL of at most 2048 characters, or carries a user name or password' },
  api_key_missing: { status: 401, scope: 'http', description: 'CODEXEC_AUTH=keys and the request has no `Authorization: Bearer <key>` header (WWW-Authenticate says so)' },
  api_key_invalid: { status: 401, scope: 'http', description: 'CODEXEC_AUTH=keys and the Authorization header is not `Bearer` with a key of this server' },
  api_key_revoked: { status: 401, scope: 'http', description: 'CODEXEC_AUTH=keys and the key was revoked (`codexec keys revoke`)' },
  session_not_found: { status: 404, scope: 'http', description: 'No session has this id (ids that are not UUIDs name no session either), or, with API keys, it belongs to another key' },
  execution_not_found: { status: 404, scope: 'http', description: 'No execution has this id (or it was pruned after the retention period), or, with API keys, it belongs to another key' },
  route_not_found: { status: 404, scope: 'http', description: 'No route matches this method and path' },
  session_closed: { status: 409, scope: 'http', description: 'The session is CLOSED or EXPIRED: it takes no autosave and no run; create a new one' },
  stale_revision: { status: 409, scope: 'http', description: 'The autosave\'s revision is not newer than the stored one (or If-Match does not match it); nothing was overwritten; details.revision is the stored revision' },
  execution_finished: { status: 409, scope: 'http', description: 'POST /executions/{id}/cancel on an execution that already ended for another reason (a canceled one answers 200 again)' },
  idempotency_key_reused: { status: 409, scope: 'http', description: 'This Idempotency-Key was used on this session for a run with a different body or code' },
  body_too_large: { status: 413, scope: 'http', description: 'The request body is larger than CODEXEC_MAX_BODY_BYTES' },
  source_too_large: { status: 413, scope: 'http', description: 'source_code is larger than CODEXEC_MAX_SOURCE_BYTES' },
  stdin_too_large: { status: 413, scope: 'http', description: 'stdin is larger than CODEXEC_MAX_STDIN_BYTES' },
  expected_output_too_large: { status: 413, scope: 'http', description: 'expected_output is larger than the output kept per run (CODEXEC_OUTPUT_BYTES), so it could never match' },
  unsupported_media_type: { status: 415, scope: 'http', description: 'The body is not application/json' },
  unsupported_field: { status: 422, scope: 'http', description: 'Judge0 / Piston APIs: a field codexec cannot honour (e.g. Judge0 `stack_limit`, `callback_url`, Piston with more than one file); details.field names it. Refused, never ignored' },
  limit_above_maximum: { status: 422, scope: 'http', description: 'Judge0 / Piston APIs: a time or memory limit above the language\'s maximum (codexec\'s own API clamps instead); details.field and details.maximum' },
  unsupported_language: { status: 422, scope: 'http', description: 'The language is not in sandbox-profiles/, or its toolchain is not installed on this host (details.reason)' },
  callback_url_refused: { status: 422, scope: 'http', description: 'callback_url names an address webhooks may not reach (loopback, private, link-local, unique-local, multicast, cloud metadata, reserved) and CODEXEC_WEBHOOK_ALLOW does not allow it; details.address and details.range name it' },
  webhooks_disabled: { status: 422, scope: 'http', description: 'A run has callback_url but the server has no CODEXEC_WEBHOOK_SECRET, so webhooks are off' },
  rate_limited: { status: 429, scope: 'http', description: 'This client (its API key with CODEXEC_AUTH=keys; else X-Api-Key, else IP) created too many sessions, or sent too many runs or autosaves, this minute; see Retry-After' },
  run_cooldown: { status: 429, scope: 'http', description: 'This session ran less than CODEXEC_RUN_COOLDOWN_MS ago; see Retry-After' },
  quota_exceeded: { status: 429, scope: 'http', description: 'An API key used up one of its quotas; details.quota names it (`runs_per_minute`, `executions_in_flight`, `sessions`) and details.limit its size; see Retry-After' },
  session_busy: { status: 429, scope: 'http', description: 'This session already has CODEXEC_SESSION_MAX_IN_FLIGHT executions queued or running; details.execution_id names one' },
  internal_error: { status: 500, scope: 'http', description: 'An unexpected error on our side; it is logged, and the response carries no detail' },
  queue_full: { status: 503, scope: 'http', description: 'More than CODEXEC_QUEUE_MAX_DEPTH executions are waiting; see Retry-After' },
  queue_unavailable: { status: 503, scope: 'http', description: 'The PostgreSQL database of the job queue cannot be reached (a restart, the network); retry after Retry-After, a run with the same Idempotency-Key' },
  too_many_event_streams: { status: 503, scope: 'http', description: 'This API process already serves CODEXEC_EVENTS_MAX_READERS event streams (GET /executions/{id}/events); see Retry-After, or poll' },
  shutting_down: { status: 503, scope: 'http', description: 'The server is draining before it stops; retry on another instance or after Retry-After' },
  result_wait_timeout: { status: 504, scope: 'http', description: 'Piston API: the run did not finish within its limits plus 30 s in the queue; it was canceled. Retry later' },
  request_timeout: { status: 408, scope: 'connection', description: 'The request was not received within CODEXEC_REQUEST_TIMEOUT_MS' },
  headers_too_large: { status: 431, scope: 'connection', description: 'The request line and headers exceed 16 KiB' },
  bad_request: { status: 400, scope: 'connection', description: 'The bytes received are not a valid HTTP request' },
  invalid_config: { status: 500, scope: 'startup', description: 'One or more CODEXEC_* variables are invalid; each is named' },
  invalid_profile: { status: 500, scope: 'startup', description: 'A sandbox profile file is invalid; the file and field are named' },
  data_dir_in_use: { status: 500, scope: 'startup', description: 'Another `codexec serve` already uses this data directory (one serve per data directory)' },
  isolation_unavailable: { status: 500, scope: 'startup', description: 'This host cannot isolate executions; run `codexec doctor`' },
  unsupported_database: { status: 500, scope: 'startup', description: 'CODEXEC_DATABASE_URL names a database this build cannot use, or its schema is newer than this build' },
  database_unavailable: { status: 500, scope: 'startup', description: 'The PostgreSQL database of CODEXEC_DATABASE_URL cannot be reached or refused the login; host and port are named, never the password' },
  sandbox_error: { status: 500, scope: 'execution', description: 'The sandbox could not be set up for an attempt; retried, then failure_reason sandbox_error' },
  file_not_found: { status: 2, scope: 'cli', description: '`codexec run`: the source, --stdin or --expected file does not exist (exit status 2)' },
  not_a_file: { status: 2, scope: 'cli', description: '`codexec run`: the path is not a regular file (exit status 2)' },
  input_file_too_large: { status: 2, scope: 'cli', description: '`codexec run`: a file is larger than CODEXEC_MAX_SOURCE_BYTES / CODEXEC_MAX_STDIN_BYTES (exit status 2)' },
  unknown_extension: { status: 2, scope: 'cli', description: '`codexec run`: no language has this file extension; pass --language (exit status 2)' },
  invalid_flag: { status: 2, scope: 'cli', description: 'A command-line flag has an invalid value (exit status 2)' },
  server_unreachable: { status: 503, scope: 'cli', description: '`--server` / CODEXEC_URL does not answer (exit status 1)' },
  bad_response: { status: 502, scope: 'cli', description: 'The server answered something that is not codexec JSON (exit status 1)' },
  api_key_not_found: { status: 404, scope: 'cli', description: '`codexec keys revoke`: no key has this id or prefix (exit status 1)' },
  http_error: { status: 500, scope: 'cli', description: 'The server answered an HTTP error without a codexec error body (exit status 1)' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
