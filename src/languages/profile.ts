import type { Limits } from '../domain/limits.js';

// A language, as declared by one JSON file in sandbox-profiles/languages/. Commands name their
// binaries as `$name`, resolved once at startup from `toolchain` (the first candidate path that
// exists and is executable), so no PATH search happens per execution.
export interface LanguageProfileFile {
  id: string;
  name: string;
  aliases?: string[];
  /** File extensions (with the dot) that `codexec run FILE` maps to this language. */
  extensions: string[];
  /** Name of the source file in the working directory, e.g. main.py, Main.java. */
  sourceFile: string;
  /** name -> candidate absolute paths; `$name` in commands resolves to the first that exists. */
  toolchain: Record<string, string[]>;
  version: { command: string[]; pattern: string };
  compile?: { command: string[]; limits?: Partial<Limits> };
  run: { command: string[] };
  env?: Record<string, string>;
  /** Extra read-only paths the sandbox exposes (beyond /usr, /lib*, /bin, /sbin, a minimal /etc). */
  binds?: string[];
  /** File name (without .json) in sandbox-profiles/seccomp/. */
  seccomp: string;
  template: string;
  limits?: { default?: Partial<Limits>; maximum?: Partial<Limits> };
}

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
  file: string;
}
