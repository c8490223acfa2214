// Resource limits of one execution phase. Units are in the names.
export interface Limits {
  wallTimeMs: number;
  cpuTimeMs: number;
  memoryBytes: number;
  processes: number;
  stdoutBytes: number;
  stderrBytes: number;
  fileSizeBytes: number;
  tmpfsBytes: number;
  openFiles: number;
}

/** What a client may ask for on a run; every field is clamped to the profile's maximum. */
export interface LimitOverrides {
  wallTimeMs?: number;
  cpuTimeMs?: number;
  memoryBytes?: number;
}

export function clampLimits(defaults: Limits, maximum: Limits, overrides: LimitOverrides = {}): Limits {
  const out: Limits = { ...defaults };
  for (const key of Object.keys(overrides) as (keyof LimitOverrides)[]) {
    const v = overrides[key];
    if (v !== undefined && Number.isFinite(v) && v > 0) out[key] = Math.floor(v);
  }
  for (const key of Object.keys(out) as (keyof Limits)[]) {
    out[key] = Math.min(out[key], maximum[key]);
  }
  return out;
}
