import type { Limits } from '../domain/limits.js';

import type { EntryPointDetector } from './entry-point.js';

// A language, as declared by one JSON file in sandbox-profiles/languages/ (schema.ts). Commands
// name their binaries as `$name`, resolved once at startup from `toolchain` (the first candidate
// path that exists and is executable), so no PATH search happens per execution.
/** A profile after validation and toolchain resolution. */
export interface LanguageProfile {
  id: string;
  name: string;
  aliases: string[];
  extensions: string[];
  sourceFile: string;
  /** Every `$name` resolved; null when a binary is missing on this host. */
  toolchain: Record<string, string | null>;
  available: boolean;
  missing: string[];
  version: string | null;
  compile: { argv: string[]; limits: Limits } | null;
  run: { argv: string[] };
  env: Record<string, string>;
  binds: string[];
  seccomp: string;
  template: string;
  limits: { default: Limits; maximum: Limits };
  /** How the source names its file and main class (Java), when the profile says. */
  entryPoint: { detect: EntryPointDetector } | null;
  file: string;
  /** sha256 of the profile file and its resolved toolchain: which profile planned a run. */
  digest: string;
  /** sha256 of the seccomp profile file the language names. */
  seccompDigest: string;
}
