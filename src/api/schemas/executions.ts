import { Type, type Static } from '@sinclair/typebox';
import { CASE_STATUSES, FAILURE_REASONS } from '../../domain/execution.js';
import { COMPARISON_MODES } from '../../domain/plan.js';
import { WEBHOOK_STATES } from '../../queue/webhook-outbox.js';
import { ExecutionStatus, Nullable, NullableTimestamp, StringEnum, Timestamp, Uuid } from './common.js';
import { LimitsJson } from './languages.js';

export const TestCaseInput = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Unique in the run; default "1", "2", ...' })),
    stdin: Type.Optional(Type.String({ description: 'At most CODEXEC_MAX_STDIN_BYTES bytes' })),
    expected_output: Type.String({ description: 'At most CODEXEC_OUTPUT_BYTES bytes' }),
    hidden: Type.Optional(
      Type.Boolean({ description: 'Its stdin, expected output and the program\'s output on it are never returned (not by GET, list or logs): only its status' }),
    ),
  },
  { additionalProperties: false },
);

export const RunBody = Type.Object(
  {
    stdin: Type.Optional(Type.String({ description: 'Standard input of the program; at most CODEXEC_MAX_STDIN_BYTES bytes (413 stdin_too_large)' })),
    expected_output: Type.Optional(
      Type.String({ description: 'When given, the result carries a verdict (passed / wrong_answer; trailing whitespace ignored) and feedback' }),
    ),
    time_limit_ms: Type.Optional(
      Type.Integer({ minimum: 100, maximum: 600_000, description: 'Wall-clock and CPU time limit; clamped to the language\'s maximum' }),
    ),
    memory_limit_bytes: Type.Optional(
      Type.Integer({ minimum: 16 * 1024 * 1024, maximum: 2 ** 40, description: 'Memory limit (at least 16 MiB); clamped to the language\'s maximum' }),
    ),
    test_cases: Type.Optional(
      Type.Array(TestCaseInput, {
        minItems: 1,
        maxItems: 100,
        description:
          'Validate against cases: the program is compiled once, then each case runs in a fresh sandbox with the run\'s limits. ' +
          'At most CODEXEC_MAX_TEST_CASES (default 20). Not together with stdin / expected_output.',
      }),
    ),
    comparison: Type.Optional(
      Type.Union(COMPARISON_MODES.map((m) => Type.Literal(m)), {
        description: 'How output is compared with expected output: exact; trailing_whitespace (default: \\r\\n is \\n, trailing spaces and blank lines ignored); tokens (whitespace-separated tokens)',
      }),
    ),
    callback_url: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'When it finishes, the result (the JSON of GET /executions/{id}, as {"type": "execution.finished", "execution": ...}) is POSTed here, ' +
          'signed (X-Codexec-Signature: v1=hex HMAC-SHA256 of "<X-Codexec-Timestamp>.<body>" with CODEXEC_WEBHOOK_SECRET), retried with ' +
          'backoff until a 2xx; each attempt is shown in GET /executions/{id} `webhook`. http(s) only; loopback, private, link-local, ' +
          'unique-local, multicast and cloud-metadata addresses are refused unless CODEXEC_WEBHOOK_ALLOW allows them',
      }),
    ),
  },
  { additionalProperties: false, description: 'Optional: an empty body, or none at all, runs with no input and default limits' },
);
export type RunBody = Static<typeof RunBody>;

export const RunHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'Makes the run safe to retry: the same key on the same session returns the same execution (202, Idempotent-Replayed: true); ' +
        'the same key with a different body or different code gets 409 idempotency_key_reused',
    }),
  ),
});
export type RunHeaders = Static<typeof RunHeaders>;

export const RunResponse = Type.Object({
  execution_id: Uuid,
  session_id: Nullable(Uuid),
  status: ExecutionStatus,
  queued_at: Timestamp,
});
export type RunResponse = Static<typeof RunResponse>;

const FailureReason = Nullable(StringEnum(FAILURE_REASONS, { description: 'Why a FAILED or TIMEOUT execution ended so; null otherwise' }));
const NullableInt = (description: string) => Nullable(Type.Integer({ description }));

export const ExecutionTimestamps = Type.Object({
  queued_at: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
});

export const CaseResultJson = Type.Object({
  name: Type.String(),
  hidden: Type.Boolean({ description: 'A hidden case shows only its name and status' }),
  status: StringEnum(CASE_STATUSES),
  time_ms: NullableInt('Wall-clock time of the case'),
  cpu_time_ms: NullableInt('CPU time of the case'),
  memory_peak_kb: NullableInt('Peak memory of the case'),
  exit_code: NullableInt('Exit code'),
  signal: Nullable(Type.String()),
  stdout: Type.String(),
  stderr: Type.String(),
  stdout_truncated: Type.Boolean(),
  stderr_truncated: Type.Boolean(),
  feedback: Nullable(Type.String({ description: 'One line about this case, for the learner' })),
});

export const CasesSummaryJson = Type.Object({
  passed: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 }),
  first_failing: Nullable(Type.String({ description: 'Name of the first case that did not pass' })),
});

export const ExecutionResponse = Type.Object({
  execution_id: Uuid,
  session_id: Nullable(Uuid),
  language: Type.String(),
  status: ExecutionStatus,
  stdout: Type.String({ description: 'Empty until the execution has finished' }),
  stderr: Type.String(),
  exit_code: NullableInt('Exit code of the program; null while not finished or when killed by a signal'),
  signal: Nullable(Type.String({ description: 'Signal that killed the program, e.g. SIGKILL' })),
  failure_reason: FailureReason,
  verdict: Nullable(StringEnum(['passed', 'wrong_answer'] as const, { description: 'Only when expected_output was given' })),
  feedback: Nullable(Type.String({ description: 'One human-readable line about the outcome, for the learner' })),
  execution_time_ms: NullableInt('Wall-clock time of the run (compile excluded)'),
  cpu_time_ms: NullableInt('CPU time of the run'),
  memory_peak_kb: NullableInt('Peak memory of the run'),
  compile_output: Nullable(Type.String({ description: 'Compiler output, for compiled languages' })),
  compile_time_ms: NullableInt('Compile time, for compiled languages'),
  stdout_truncated: Type.Boolean(),
  stderr_truncated: Type.Boolean(),
  output_not_utf8: Type.Boolean({ description: 'Output had bytes that were not UTF-8; they were replaced with U+FFFD' }),
  warnings: Type.Array(Type.String()),
  time_limit_ms: NullableInt('Effective wall-clock limit (after clamping to the language maximum)'),
  memory_limit_bytes: NullableInt('Effective memory limit'),
  limits: Nullable(
    Type.Object(LimitsJson.properties, { description: 'Every limit of the run phase, as planned at submission and enforced on whichever host ran it' }),
  ),
  language_version: Nullable(Type.String({ description: 'Toolchain version of the process that planned the run' })),
  test_cases: Nullable(Type.Array(CaseResultJson, { description: 'Per-case results when the run had test cases; null otherwise (and while not finished)' })),
  summary: Nullable(CasesSummaryJson),
  cancel_requested: Type.Boolean({ description: 'A cancel was asked for while it ran' }),
  attempts: Type.Integer({ minimum: 0, description: 'Attempts made so far (retries happen only for failures on our side)' }),
  max_attempts: Type.Integer({ minimum: 1 }),
  attempt_errors: Type.Array(
    Type.Object({ attempt: Type.Integer(), at: Timestamp, code: Type.String({ description: 'e.g. lease_expired, sandbox_error, internal_error' }) }),
    { description: 'Transient failures of earlier attempts' },
  ),
  queued_at: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
  timestamps: ExecutionTimestamps,
});
export type ExecutionResponse = Static<typeof ExecutionResponse>;

export const WebhookJson = Type.Object(
  {
    url: Type.String(),
    state: StringEnum(WEBHOOK_STATES, { description: 'pending (the run has not finished, or a retry is due), delivered (a 2xx answer), failed (no attempt left, or a refused address)' }),
    attempts: Type.Array(
      Type.Object({
        attempt: Type.Integer({ minimum: 1 }),
        at: Timestamp,
        status_code: NullableInt('The receiver\'s HTTP status; null when none came'),
        error: Nullable(Type.String({ description: 'Why it did not count as delivered' })),
        duration_ms: NullableInt('How long the attempt took'),
      }),
    ),
    next_attempt_at: NullableTimestamp,
  },
  { description: 'The webhook of a run with callback_url' },
);
export type WebhookJson = Static<typeof WebhookJson>;

/** GET /executions/{id}: the execution, and its webhook's deliveries. */
export const ExecutionWithWebhookResponse = Type.Object({
  ...ExecutionResponse.properties,
  webhook: Nullable(WebhookJson),
});
export type ExecutionWithWebhookResponse = Static<typeof ExecutionWithWebhookResponse>;

export const ExecutionSummary = Type.Object({
  execution_id: Uuid,
  status: ExecutionStatus,
  language: Type.String(),
  failure_reason: FailureReason,
  exit_code: NullableInt('Exit code'),
  verdict: Nullable(StringEnum(['passed', 'wrong_answer'] as const)),
  execution_time_ms: NullableInt('Wall-clock time of the run'),
  summary: Nullable(CasesSummaryJson),
  queued_at: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
});
export type ExecutionSummary = Static<typeof ExecutionSummary>;

// Unknown query parameters are ignored (cache busters such as ?_=123 are common).
/** Longest a request (GET /executions/{id}, POST .../run) may wait for the execution to finish. */
export const MAX_WAIT_MS = 30_000;

/** `wait_ms`, 0..MAX_WAIT_MS (0: at once), as each waiting route describes it. */
const waitMs = (what: string) =>
  Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, default: 0, description: `${what} (0..${MAX_WAIT_MS}; 0: at once)` }));

export const ExecutionGetQuery = Type.Object({
  wait_ms: waitMs('Long polling: while the execution is QUEUED or RUNNING, answer as soon as it is terminal, or after this many ms with its state then'),
});
export type ExecutionGetQuery = Static<typeof ExecutionGetQuery>;

export const RunQuery = Type.Object({
  wait_ms: waitMs(
    'Wait for the result: answer 200 with the execution as GET /executions/{execution_id} shows it as soon as it is terminal, or 202 as without wait_ms once this many ms have passed',
  ),
});
export type RunQuery = Static<typeof RunQuery>;

export const ExecutionListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'How many, newest first' })),
});
export type ExecutionListQuery = Static<typeof ExecutionListQuery>;

export const ExecutionListResponse = Type.Object({
  session_id: Uuid,
  executions: Type.Array(ExecutionSummary, { description: 'Newest first; GET /executions/{execution_id} for output' }),
});
export type ExecutionListResponse = Static<typeof ExecutionListResponse>;
