import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What an Idempotency-Key is bound to: the run's parameters and the code it snapshots. */
export interface RunRequestIdentity {
  language: string;
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
  testCases: { name: string; stdin: string; expectedOutput: string; hidden: boolean }[] | null;
  comparison: string;
  timeLimitMs: number | null;
  memoryLimitBytes: number | null;
  // Set only by the compatible APIs; absent fields leave the hash of other runs as it was.
  wallTimeMs?: number;
  cpuTimeMs?: number;
  compileLimits?: { wallTimeMs?: number; cpuTimeMs?: number; memoryBytes?: number };
  args?: string[];
  /** Left out when the run has none. */
  callbackUrl?: string;
}

/** sha256 of the canonical JSON of a run request (defaults filled in, so {} and {"stdin": ""} agree). */
export function runRequestHash(r: RunRequestIdentity): string {
  return createHash('sha256').update(canonicalJson(r)).digest('hex');
}
