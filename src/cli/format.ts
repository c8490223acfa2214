import type { ExecutionResponse } from '../api/schemas/executions.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatAge(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600_000) return `${Math.floor(ms / 60_000)} min`;
  return `${(ms / 3600_000).toFixed(1)} h`;
}

/** One line: status, exit code, time, memory, and the feedback. */
export function summaryLine(e: ExecutionResponse): string {
  const parts = [e.status + (e.failure_reason ? ` (${e.failure_reason})` : '')];
  if (e.verdict) parts.push(e.verdict);
  if (e.exit_code !== null) parts.push(`exit ${e.exit_code}`);
  if (e.signal) parts.push(e.signal);
  if (e.execution_time_ms !== null) parts.push(`${e.execution_time_ms} ms`);
  if (e.compile_time_ms !== null) parts.push(`compile ${e.compile_time_ms} ms`);
  if (e.memory_peak_kb !== null) parts.push(formatBytes(e.memory_peak_kb * 1024));
  const line = `── ${parts.join(' · ')}`;
  return e.feedback ? `${line}\n   ${e.feedback}` : line;
}
