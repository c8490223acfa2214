import type { CaseResult, CasesSummary, ExecutionRecord } from '../domain/execution.js';
import type { Limits } from '../domain/limits.js';
import type { LanguageProfile } from '../languages/profile.js';
import { lastActivityAt, type Session } from '../sessions/session.js';
import type { ExecutionResponse, ExecutionSummary } from './schemas/executions.js';
import type { LanguageJson, LimitsJson } from './schemas/languages.js';
import type { AutosaveResponse, SessionResponse } from './schemas/sessions.js';

// Domain objects -> the API's snake_case JSON. One function per shape, so that a field is named
// in exactly one place.

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function sessionView(s: Session, idleTtlMs: number): SessionResponse {
  return {
    session_id: s.id,
    status: s.status,
    language: s.language,
    revision: s.revision,
    source_code: s.sourceCode,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
    last_run_at: isoOrNull(s.lastRunAt),
    expires_at: s.status === 'CLOSED' ? null : iso(lastActivityAt(s) + idleTtlMs),
  };
}

export function autosaveView(s: Session): AutosaveResponse {
  return { session_id: s.id, status: s.status, language: s.language, revision: s.revision, updated_at: iso(s.updatedAt) };
}

export function caseView(c: CaseResult) {
  return {
    name: c.name,
    hidden: c.hidden,
    status: c.status,
    time_ms: c.timeMs,
    cpu_time_ms: c.cpuTimeMs,
    memory_peak_kb: c.memoryPeakKb,
    exit_code: c.exitCode,
    signal: c.signal,
    stdout: c.stdout,
    stderr: c.stderr,
    stdout_truncated: c.stdoutTruncated,
    stderr_truncated: c.stderrTruncated,
    feedback: c.feedback,
  };
}

function summaryView(s: CasesSummary | undefined) {
  return s ? { passed: s.passed, total: s.total, first_failing: s.firstFailing } : null;
}

/**
 * An execution as GET /executions/{id} shows it (the CLI shows the same from the local database).
 * Limits come from the stored plan: what was enforced, on whichever host ran it. Nothing of a
 * hidden test case but its name and status is in the record (domain/cases.ts), so nothing more
 * can be shown; the plan's test cases (with hidden inputs) are never shown at all.
 */
export function executionView(e: ExecutionRecord): ExecutionResponse {
  // Output fields stay empty or null until the execution has a result (QUEUED, RUNNING).
  const r = e.result;
  const limits = e.plan?.run.limits ?? null;
  const timestamps = { queued_at: iso(e.queuedAt), started_at: isoOrNull(e.startedAt), finished_at: isoOrNull(e.finishedAt) };
  return {
    execution_id: e.id,
    session_id: e.sessionId,
    language: e.language,
    status: e.status,
    stdout: r?.stdout ?? '',
    stderr: r?.stderr ?? '',
    exit_code: r?.exitCode ?? null,
    signal: r?.signal ?? null,
    failure_reason: r?.failureReason ?? null,
    verdict: r?.verdict ?? null,
    feedback: r?.feedback ?? null,
    execution_time_ms: r?.executionTimeMs ?? null,
    cpu_time_ms: r?.cpuTimeMs ?? null,
    memory_peak_kb: r?.memoryPeakKb ?? null,
    compile_output: r?.compileOutput ?? null,
    compile_time_ms: r?.compileTimeMs ?? null,
    stdout_truncated: r?.stdoutTruncated ?? false,
    stderr_truncated: r?.stderrTruncated ?? false,
    output_not_utf8: r?.outputNotUtf8 ?? false,
    warnings: r?.warnings ?? [],
    time_limit_ms: limits?.wallTimeMs ?? null,
    memory_limit_bytes: limits?.memoryBytes ?? null,
    limits: limits ? limitsJson(limits) : null,
    language_version: e.plan?.language.version ?? null,
    test_cases: r?.testCases ? r.testCases.map(caseView) : null,
    summary: summaryView(r?.summary),
    cancel_requested: e.cancelRequestedAt !== null,
    attempts: e.attempt,
    max_attempts: e.maxAttempts,
    // Codes only: an attempt's message is for operators (logs, `codexec status`), not learners.
    attempt_errors: e.errors.map((err) => ({ attempt: err.attempt, at: iso(err.at), code: err.code })),
    ...timestamps,
    timestamps,
  };
}

export function executionSummaryView(e: ExecutionRecord): ExecutionSummary {
  return {
    execution_id: e.id,
    status: e.status,
    language: e.language,
    failure_reason: e.result?.failureReason ?? null,
    exit_code: e.result?.exitCode ?? null,
    verdict: e.result?.verdict ?? null,
    execution_time_ms: e.result?.executionTimeMs ?? null,
    summary: summaryView(e.result?.summary),
    queued_at: iso(e.queuedAt),
    started_at: isoOrNull(e.startedAt),
    finished_at: isoOrNull(e.finishedAt),
  };
}

function limitsJson(l: Limits): LimitsJson {
  return {
    wall_time_ms: l.wallTimeMs,
    cpu_time_ms: l.cpuTimeMs,
    memory_bytes: l.memoryBytes,
    processes: l.processes,
    stdout_bytes: l.stdoutBytes,
    stderr_bytes: l.stderrBytes,
    file_size_bytes: l.fileSizeBytes,
    tmpfs_bytes: l.tmpfsBytes,
    open_files: l.openFiles,
  };
}

export function languageView(p: LanguageProfile): LanguageJson {
  return {
    id: p.id,
    name: p.name,
    version: p.version,
    available: p.available,
    missing: p.missing,
    aliases: p.aliases,
    extensions: p.extensions,
    compiled: p.compile !== null,
    limits: { default: limitsJson(p.limits.default), maximum: limitsJson(p.limits.maximum) },
  };
}
