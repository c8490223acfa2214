import type { Limits } from '../domain/limits.js';

// Values of one execution that a profile's commands may name as `{name}`. They are filled in per
// phase from that phase's limits, after a request's overrides: a JVM can size its heap from the
// memory limit the run really has (`-XX:MaxRAM={memory_mib}m`) instead of a number fixed in its
// profile.
const MiB = 1024 * 1024;
const VALUES: Record<string, (limits: Limits) => string> = {
  memory_mib: (l) => String(Math.floor(l.memoryBytes / MiB)),
};
const PATTERN = /\{([a-z_]+)\}/g;

/** Placeholders in a command that are not known here (a profile naming one is refused). */
export function unknownPlaceholders(command: string[]): string[] {
  return [...command.join(' ').matchAll(PATTERN)].map((m) => m[1]!).filter((name) => !(name in VALUES));
}

/** The command with its placeholders replaced by the phase's values. */
export function fillLimits(argv: string[], limits: Limits): string[] {
  return argv.map((word) => word.replace(PATTERN, (m, name: string) => VALUES[name]?.(limits) ?? m));
}
