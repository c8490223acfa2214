import { InvalidRequestError } from '../../../domain/errors.js';
import type { ExecutionRecord } from '../../../domain/execution.js';
import type { LanguageRegistry } from '../../../languages/registry.js';
import { encodeBase64 } from '../encoding.js';
import { judge0IdOf, judge0NameOf } from './languages.js';
import type { Judge0Field, Judge0Submission } from './schemas.js';
import { judge0StatusOf, signalNumber } from './statuses.js';

// An execution as a Judge0 submission: only the fields asked for (?fields=a,b or * for all;
// Judge0's eight by default), text fields base64 with base64_encoded=true. Empty outputs are
// null, times are seconds written as decimal strings and memory is KB, as Judge0 answers.
// codexec keeps output as UTF-8 text (invalid bytes were replaced with U+FFFD when it was
// recorded), so base64 answers carry that text, not the program's raw bytes.

export const DEFAULT_FIELDS: readonly Judge0Field[] = ['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status'];
const TEXT_FIELDS = new Set<Judge0Field>(['source_code', 'stdin', 'expected_output', 'stdout', 'stderr', 'compile_output', 'message']);

type Getter = (e: ExecutionRecord, languages: Pick<LanguageRegistry, 'find'>) => Judge0Submission[Judge0Field];

const emptyToNull = (s: string | null | undefined): string | null => (s === undefined || s === null || s === '' ? null : s);
const decimal = (ms: number | null | undefined): string | null => (ms === undefined || ms === null ? null : (ms / 1000).toFixed(3));
const limitSeconds = (ms: number | undefined): string | null => (ms === undefined ? null : (ms / 1000).toFixed(1));
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const limits = (e: ExecutionRecord) => e.plan?.run.limits;
// A message for what Judge0 shows one for: errors, not an Accepted or Wrong Answer run.
const message = (e: ExecutionRecord): string | null => {
  const r = e.result;
  if (!r || (e.status === 'COMPLETED' && r.failureReason === null)) return null;
  return r.feedback;
};

const GETTERS: Record<Judge0Field, Getter> = {
  token: (e) => e.id,
  source_code: (e) => e.sourceCode,
  language_id: (e) => judge0IdOf(e.language),
  language: (e, langs) => {
    const id = judge0IdOf(e.language);
    const name = judge0NameOf(e.language, langs);
    return id === null || name === null ? null : { id, name };
  },
  stdin: (e) => emptyToNull(e.plan?.stdin),
  expected_output: (e) => e.plan?.expectedOutput ?? null,
  stdout: (e) => emptyToNull(e.result?.stdout),
  stderr: (e) => emptyToNull(e.result?.stderr),
  compile_output: (e) => emptyToNull(e.result?.compileOutput),
  message,
  status: (e) => judge0StatusOf(e),
  status_id: (e) => judge0StatusOf(e).id,
  exit_code: (e) => e.result?.exitCode ?? null,
  exit_signal: (e) => signalNumber(e.result?.signal ?? null),
  time: (e) => decimal(e.result?.cpuTimeMs ?? e.result?.executionTimeMs),
  wall_time: (e) => decimal(e.result?.executionTimeMs),
  memory: (e) => e.result?.memoryPeakKb ?? null,
  created_at: (e) => iso(e.queuedAt),
  started_at: (e) => iso(e.startedAt),
  finished_at: (e) => iso(e.finishedAt),
  compiler_options: () => null,
  // The plan keeps the run's whole argv, not which words were the client's: not echoed.
  command_line_arguments: () => null,
  cpu_time_limit: (e) => limitSeconds(limits(e)?.cpuTimeMs),
  cpu_extra_time: () => '0.0',
  wall_time_limit: (e) => limitSeconds(limits(e)?.wallTimeMs),
  memory_limit: (e) => {
    const l = limits(e);
    return l ? Math.floor(l.memoryBytes / 1024) : null;
  },
  stack_limit: () => null,
  max_processes_and_or_threads: (e) => limits(e)?.processes ?? null,
  enable_per_process_and_thread_time_limit: () => false,
  enable_per_process_and_thread_memory_limit: () => false,
  max_file_size: (e) => {
    const l = limits(e);
    return l ? Math.floor(l.fileSizeBytes / 1024) : null;
  },
  redirect_stderr_to_stdout: () => false,
  number_of_runs: () => 1,
  callback_url: () => null,
  additional_files: () => null,
  enable_network: () => false,
};

const ALL_FIELDS = Object.keys(GETTERS) as Judge0Field[];

/** The fields of `?fields=`: Judge0's eight when absent or empty, every one for "*". */
export function parseFields(raw: string | undefined): readonly Judge0Field[] {
  const asked = (raw ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');
  if (asked.length === 0) return DEFAULT_FIELDS;
  if (asked.includes('*')) return ALL_FIELDS;
  const invalid = asked.filter((f) => !(f in GETTERS));
  if (invalid.length > 0) throw new InvalidRequestError(`invalid fields: [${invalid.join(', ')}]`, { fields: invalid });
  return [...new Set(asked)] as Judge0Field[];
}

/** The submission with `fields`; text fields base64 when `base64`. */
export function judge0View(e: ExecutionRecord, fields: readonly Judge0Field[], base64: boolean, languages: Pick<LanguageRegistry, 'find'>): Judge0Submission {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = GETTERS[f](e, languages);
    out[f] = base64 && TEXT_FIELDS.has(f) ? encodeBase64(v as string | null) : v;
  }
  return out as Judge0Submission;
}

/**
 * Whether an execution is visible as a Judge0 submission: runs without a session (submitted
 * here, through Piston or by the CLI) and without test cases. A session's runs are its own: a
 * Judge0 token would otherwise show a session's code to whoever holds an execution id.
 */
export function isJudge0Submission(e: ExecutionRecord): boolean {
  return e.sessionId === null && (e.plan?.testCases ?? null) === null;
}
