import type { Limits } from '../domain/limits.js';

// Values of one execution that a profile's commands may name as `{name}`, filled in when the run
// is planned (executions/plan.ts): a JVM sizes its heap from the memory limit the run really has
// (`-XX:MaxRAM={memory_mib}m`), and Java compiles and runs the class the learner named
// (`{source_file}`, `{main_class}`) instead of insisting on Main.
export interface PlaceholderValues {
  limits: Limits;
  sourceFile: string;
  mainClass: string;
}

const MiB = 1024 * 1024;
const VALUES: Record<string, (v: PlaceholderValues) => string> = {
  memory_mib: (v) => String(Math.floor(v.limits.memoryBytes / MiB)),
  source_file: (v) => v.sourceFile,
  main_class: (v) => v.mainClass,
};
const PATTERN = /\{([a-z_]+)\}/g;

/** Placeholders in a command that are not known here (a profile naming one is refused). */
export function unknownPlaceholders(command: string[]): string[] {
  return [...command.join(' ').matchAll(PATTERN)].map((m) => m[1]!).filter((name) => !(name in VALUES));
}

/** The command with its placeholders replaced. */
export function fillPlaceholders(argv: string[], values: PlaceholderValues): string[] {
  return argv.map((word) => word.replace(PATTERN, (m, name: string) => VALUES[name]?.(values) ?? m));
}
