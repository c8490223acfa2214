import { InvalidRequestError, LimitAboveMaximumError } from '../../domain/errors.js';
import type { Limits } from '../../domain/limits.js';

// Limits a compatible API asks for, in its own units (Judge0: seconds and KB; Piston: ms and
// bytes), turned into codexec's. codexec's own API clamps a limit above the language's maximum;
// Judge0 and Piston refuse one (422), and so do their adapters here: a client that asked for
// 60 s must not silently get 30.

const MiB = 1024 * 1024;
export const MIN_TIME_MS = 100;
export const MIN_MEMORY_BYTES = 16 * MiB;

/** `value` of `field`, in a unit worth `perUnit` of ours, checked against [minimum, maximum] (ours). */
export function requestedLimit(field: string, value: number, perUnit: number, unit: string, minimum: number, maximum: number): number {
  const ours = Math.round(value * perUnit);
  if (ours > maximum) throw new LimitAboveMaximumError(field, maximum / perUnit, unit);
  if (!(ours >= minimum)) throw new InvalidRequestError(`${field}: must be at least ${minimum / perUnit} (${unit})`, { field });
  return ours;
}

/**
 * Wall and CPU limits of a run from what the client gave. Given a CPU limit alone, the wall-clock
 * limit is raised to it (within the maximum): the CPU limit the client chose is the one that
 * binds, as Judge0 recommends (CPU time as the main limit, wall time as a precaution).
 */
export function runTimes(cpuTimeMs: number | undefined, wallTimeMs: number | undefined, profile: { default: Limits; maximum: Limits }) {
  if (cpuTimeMs !== undefined && wallTimeMs === undefined) {
    return { cpuTimeMs, wallTimeMs: Math.min(profile.maximum.wallTimeMs, Math.max(profile.default.wallTimeMs, cpuTimeMs)) };
  }
  return { cpuTimeMs, wallTimeMs };
}
