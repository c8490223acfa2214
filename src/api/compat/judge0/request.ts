import { InvalidRequestError, UnsupportedFieldError } from '../../../domain/errors.js';
import type { RunSubmission } from '../../../executions/submit.js';
import type { LanguageRegistry } from '../../../languages/registry.js';
import { decodeText } from '../encoding.js';
import { MIN_MEMORY_BYTES, MIN_TIME_MS, requestedLimit, runTimes } from '../limits.js';
import { languageOfJudge0Id } from './languages.js';
import type { Judge0SubmissionBody } from './schemas.js';

// A Judge0 submission as a codexec run. Every field Judge0 documents is either honoured or
// refused (422 unsupported_field) when set to anything but its "off" value: a client must not
// believe a stack limit, a callback or a second run was applied when it was not.

// Fields honoured only at these values (null or absent is always fine).
const ONLY: [keyof Judge0SubmissionBody, unknown[], string][] = [
  ['compiler_options', [''], 'compile commands are the language profile\'s; compiler options are not supported'],
  ['cpu_extra_time', [0, '0', '0.0'], 'a run is stopped at its limit; extra time is not supported'],
  ['stack_limit', [], 'the stack limit is the host\'s (RLIMIT_STACK); it cannot be set per submission'],
  ['max_processes_and_or_threads', [], 'the process limit is the language\'s; it cannot be set per submission'],
  ['max_file_size', [], 'the file size limit is the language\'s; it cannot be set per submission'],
  ['enable_per_process_and_thread_time_limit', [false], 'limits apply to the whole run, not per process'],
  ['enable_per_process_and_thread_memory_limit', [false], 'limits apply to the whole run (a cgroup), not per process'],
  ['redirect_stderr_to_stdout', [false], 'stdout and stderr are kept apart'],
  ['number_of_runs', [1, '1'], 'a submission runs once'],
  ['callback_url', [], 'callbacks are not supported: poll GET /judge0/submissions/{token}, or use wait=true'],
  ['additional_files', [], 'a submission is one source file; additional files are not supported'],
  ['enable_network', [false], 'runs never have a network'],
];

// Words Judge0's shell would pass through unchanged: anything else (quotes, $, globs, ...) would
// need a shell to mean what the client meant, and codexec runs no shell.
const PLAIN_WORDS = /^[A-Za-z0-9_.,:=+@%/-]+(?:[ \t]+[A-Za-z0-9_.,:=+@%/-]+)*$/;

function refuseUnsupported(body: Judge0SubmissionBody): void {
  for (const [field, allowed, why] of ONLY) {
    const v = body[field];
    if (v === undefined || v === null || allowed.includes(v)) continue;
    throw new UnsupportedFieldError(field, why);
  }
}

function argsOf(raw: string | null | undefined): string[] | undefined {
  const text = raw?.trim() ?? '';
  if (text === '') return undefined;
  if (!PLAIN_WORDS.test(text)) {
    throw new UnsupportedFieldError('command_line_arguments', 'only words separated by spaces are supported (no quotes or shell characters: codexec runs no shell)');
  }
  return text.split(/[ \t]+/);
}

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v.trim()));

/** The run a Judge0 submission asks for; `base64`: its text fields are base64 (base64_encoded=true). */
export function judge0Run(body: Judge0SubmissionBody, base64: boolean, languages: Pick<LanguageRegistry, 'find' | 'resolve'>): RunSubmission {
  const language = languageOfJudge0Id(num(body.language_id), languages);
  const { limits } = languages.resolve(language);
  refuseUnsupported(body);
  const text = (v: string | null | undefined, field: string) => (v === undefined || v === null ? undefined : base64 ? decodeText(v, 'base64', field) : v);
  const sourceCode = text(body.source_code, 'source_code') ?? '';
  if (sourceCode.trim() === '') throw new InvalidRequestError("source_code: can't be blank", { field: 'source_code' });

  const seconds = (field: 'cpu_time_limit' | 'wall_time_limit', max: number) => {
    const v = body[field];
    return v === undefined || v === null ? undefined : requestedLimit(field, num(v), 1000, 's', MIN_TIME_MS, max);
  };
  const times = runTimes(seconds('cpu_time_limit', limits.maximum.cpuTimeMs), seconds('wall_time_limit', limits.maximum.wallTimeMs), limits);
  const memoryKb = body.memory_limit;
  const memoryLimitBytes =
    memoryKb === undefined || memoryKb === null ? undefined : requestedLimit('memory_limit', num(memoryKb), 1024, 'KB', MIN_MEMORY_BYTES, limits.maximum.memoryBytes);

  return {
    source: { language, sourceCode },
    stdin: text(body.stdin, 'stdin'),
    expectedOutput: text(body.expected_output, 'expected_output') ?? null,
    comparison: 'trailing_whitespace',
    ...(times.cpuTimeMs === undefined ? {} : { cpuTimeMs: times.cpuTimeMs }),
    ...(times.wallTimeMs === undefined ? {} : { wallTimeMs: times.wallTimeMs }),
    ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
    args: argsOf(body.command_line_arguments),
  };
}
