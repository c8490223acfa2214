import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Nullable } from '../../schemas/common.js';

// Request and response shapes of the Judge0 CE subset (its API documentation, read and restated).
// Judge0 clients send numbers as JSON numbers or as strings ("language_id": "4") and unset fields
// as null, so both are accepted; fields that only appear in answers (stdout, status, token, ...)
// are accepted and ignored on a submission, as Judge0 does. Any other field is refused.

const NullableOptional = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const NumberLike = (description: string) =>
  Type.Union([Type.Number(), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*$', maxLength: 32 })], { description });

const READ_ONLY = [
  'stdout', 'stderr', 'compile_output', 'message', 'exit_code', 'exit_signal', 'status', 'status_id', 'created_at', 'started_at',
  'finished_at', 'token', 'time', 'wall_time', 'memory', 'language',
] as const;

export const Judge0SubmissionBody = Type.Object(
  {
    source_code: Type.String({ description: 'The program (base64 with base64_encoded=true); at most CODEXEC_MAX_SOURCE_BYTES' }),
    language_id: Type.Union([Type.Integer(), Type.String({ pattern: '^\\s*\\d{1,9}\\s*$' })], { description: 'A Judge0 language id (GET /judge0/languages)' }),
    stdin: NullableOptional(Type.String({ description: 'Standard input (base64 with base64_encoded=true)' })),
    expected_output: NullableOptional(Type.String({ description: 'Compared with stdout, trailing whitespace ignored: Accepted or Wrong Answer' })),
    cpu_time_limit: NullableOptional(NumberLike('CPU time limit, seconds; at most the language\'s maximum (422 limit_above_maximum)')),
    wall_time_limit: NullableOptional(NumberLike('Wall-clock limit, seconds; at most the language\'s maximum')),
    memory_limit: NullableOptional(NumberLike('Memory limit, KB (1024 bytes), of the whole run (a cgroup); at least 16384')),
    command_line_arguments: NullableOptional(Type.String({ maxLength: 128, description: 'Words separated by spaces; quotes and shell characters are refused' })),
    compiler_options: NullableOptional(Type.String({ description: 'Refused unless empty (422 unsupported_field): compile commands are the profile\'s' })),
    cpu_extra_time: NullableOptional(NumberLike('Refused unless 0: a run stops at its limit')),
    stack_limit: NullableOptional(NumberLike('Refused (422 unsupported_field)')),
    max_processes_and_or_threads: NullableOptional(NumberLike('Refused (422 unsupported_field)')),
    enable_per_process_and_thread_time_limit: NullableOptional(Type.Boolean({ description: 'Only false: the limits are of the whole run' })),
    enable_per_process_and_thread_memory_limit: NullableOptional(Type.Boolean({ description: 'Only false: the limits are of the whole run' })),
    max_file_size: NullableOptional(NumberLike('Refused (422 unsupported_field)')),
    redirect_stderr_to_stdout: NullableOptional(Type.Boolean({ description: 'Only false' })),
    number_of_runs: NullableOptional(NumberLike('Only 1')),
    callback_url: NullableOptional(Type.String({ description: 'Refused (422 unsupported_field): no callbacks' })),
    additional_files: NullableOptional(Type.String({ description: 'Refused (422 unsupported_field): one source file' })),
    enable_network: NullableOptional(Type.Boolean({ description: 'Only false: runs never have a network' })),
    ...Object.fromEntries(READ_ONLY.map((f) => [f, Type.Optional(Type.Unknown({ description: 'An answer\'s field: ignored' }))])),
  },
  { additionalProperties: false },
);
export type Judge0SubmissionBody = Static<typeof Judge0SubmissionBody>;

const Bool = Type.Boolean();
export const SubmitQuery = Type.Object({
  base64_encoded: Type.Optional(Type.Boolean({ description: 'source_code, stdin and expected_output are base64, and so are the text fields answered' })),
  wait: Type.Optional(Type.Boolean({ description: 'Answer with the result: waits for it at most the run\'s limits plus 30 s; past that, answers with its status so far' })),
  fields: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated fields of the answer with wait=true, or *' })),
});
export const GetQuery = Type.Object({
  base64_encoded: Type.Optional(Bool),
  fields: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated fields, or * for all' })),
});
export const BatchGetQuery = Type.Object({
  tokens: Type.String({ maxLength: 20 * 37, description: 'Comma-separated tokens, at most 20' }),
  base64_encoded: Type.Optional(Bool),
  fields: Type.Optional(Type.String({ maxLength: 1000 })),
});
export const BatchBody = Type.Object(
  { submissions: Type.Array(Type.Unknown(), { description: 'At most 20 submissions, each as POST /judge0/submissions takes' }) },
  { additionalProperties: false },
);
export const BatchSubmitQuery = Type.Object({ base64_encoded: Type.Optional(Bool) });
export const TokenParams = Type.Object({ token: Type.String({ maxLength: 200 }) });

const Text = Nullable(Type.String());
const Decimal = Nullable(Type.String({ description: 'seconds, as Judge0 writes decimals' }));
const Int = Nullable(Type.Integer());
const Flag = Nullable(Type.Boolean());
const Status = Type.Object({ id: Type.Integer(), description: Type.String() });

/** A submission as answered: only the fields asked for (default: Judge0's eight). */
export const Judge0Submission = Type.Object(
  {
    token: Type.Optional(Type.String()),
    source_code: Type.Optional(Text),
    language_id: Type.Optional(Int),
    language: Type.Optional(Nullable(Type.Object({ id: Type.Integer(), name: Type.String() }))),
    stdin: Type.Optional(Text),
    expected_output: Type.Optional(Text),
    stdout: Type.Optional(Text),
    stderr: Type.Optional(Text),
    compile_output: Type.Optional(Text),
    message: Type.Optional(Text),
    status: Type.Optional(Status),
    status_id: Type.Optional(Type.Integer()),
    exit_code: Type.Optional(Int),
    exit_signal: Type.Optional(Int),
    time: Type.Optional(Decimal),
    wall_time: Type.Optional(Decimal),
    memory: Type.Optional(Int),
    created_at: Type.Optional(Text),
    started_at: Type.Optional(Text),
    finished_at: Type.Optional(Text),
    compiler_options: Type.Optional(Text),
    command_line_arguments: Type.Optional(Text),
    cpu_time_limit: Type.Optional(Decimal),
    cpu_extra_time: Type.Optional(Decimal),
    wall_time_limit: Type.Optional(Decimal),
    memory_limit: Type.Optional(Int),
    stack_limit: Type.Optional(Int),
    max_processes_and_or_threads: Type.Optional(Int),
    enable_per_process_and_thread_time_limit: Type.Optional(Flag),
    enable_per_process_and_thread_memory_limit: Type.Optional(Flag),
    max_file_size: Type.Optional(Int),
    redirect_stderr_to_stdout: Type.Optional(Flag),
    number_of_runs: Type.Optional(Int),
    callback_url: Type.Optional(Text),
    additional_files: Type.Optional(Text),
    enable_network: Type.Optional(Flag),
  },
  { additionalProperties: false },
);
export type Judge0Submission = Static<typeof Judge0Submission>;
export type Judge0Field = keyof Judge0Submission;

export const BatchCreated = Type.Array(
  Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: true, description: '{"token"} or, for a refused one, its error' }),
);
export const BatchGetResponse = Type.Object({ submissions: Type.Array(Nullable(Judge0Submission)) });
export const LanguageList = Type.Array(Type.Object({ id: Type.Integer(), name: Type.String() }));
export const StatusList = Type.Array(Status);

/** Judge0's error shapes: {"error": "..."} or, for a field's problem, {"<field>": ["..."]}. */
export const Judge0Error = Type.Object(
  { error: Type.Optional(Type.String()) },
  { additionalProperties: Type.Array(Type.String()), description: 'Judge0\'s shape; codexec\'s stable code is in the Codexec-Error-Code header' },
);
