import { RunBody } from '../api/schemas/executions.js';
import { formatSize, parseSize } from '../config/parsers.js';
import { CodexecError } from '../domain/errors.js';

// `codexec run --time-limit / --memory-limit`: the same ranges as the API's run body, read from
// its schema, so a local run refuses exactly what POST /code-sessions/{id}/run refuses.

function bounds(schema: { minimum?: number; maximum?: number }): { min: number; max: number } {
  return { min: schema.minimum ?? 1, max: schema.maximum ?? Number.MAX_SAFE_INTEGER };
}

export const TIME_LIMIT_MS = bounds(RunBody.properties.time_limit_ms);
export const MEMORY_LIMIT_BYTES = bounds(RunBody.properties.memory_limit_bytes);

const invalid = (flag: string, message: string) => new CodexecError('invalid_flag', 2, `${flag}: ${message}`);

/** Milliseconds: `2000`. */
export function parseTimeLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const { min, max } = TIME_LIMIT_MS;
  if (!/^\d+$/.test(raw.trim())) throw invalid('--time-limit', `expected milliseconds (${min} to ${max}), got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw invalid('--time-limit', `expected ${min} to ${max} ms, got ${n}`);
  return n;
}

/** Bytes, or a size with a unit: `268435456`, `256M`, `1G`, `65536k`. */
export function parseMemoryLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const { min, max } = MEMORY_LIMIT_BYTES;
  let n: number;
  try {
    n = parseSize(raw);
  } catch (err) {
    throw invalid('--memory-limit', (err as Error).message);
  }
  if (n < min || n > max) throw invalid('--memory-limit', `expected ${formatSize(min)} to ${formatSize(max)}, got ${formatSize(n)}`);
  return n;
}
