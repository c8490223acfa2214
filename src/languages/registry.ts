import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Value } from '@sinclair/typebox/value';
import { ProfileError, UnsupportedLanguageError } from '../domain/errors.js';
import type { Limits } from '../domain/limits.js';
import type { Config } from '../config/schema.js';
import { unknownPlaceholders } from './placeholders.js';
import type { LanguageProfile } from './profile.js';
import { LanguageProfileSchema, type LanguageProfileJson } from './schema.js';

/** The package's own sandbox-profiles/ directory (works from src/ under vitest and from dist/). */
export function defaultProfilesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'sandbox-profiles');
}

// Maxima a client may raise a run's limits to when a profile does not say otherwise.
const BUILTIN_MAXIMUM: Limits = {
  wallTimeMs: 30_000,
  cpuTimeMs: 30_000,
  memoryBytes: 1024 * 1024 * 1024,
  processes: 256,
  stdoutBytes: 1024 * 1024,
  stderrBytes: 1024 * 1024,
  fileSizeBytes: 64 * 1024 * 1024,
  tmpfsBytes: 128 * 1024 * 1024,
  openFiles: 256,
};

export function baseLimits(config: Pick<Config, 'wallTimeMs' | 'cpuTimeMs' | 'memoryBytes' | 'processes' | 'outputBytes' | 'fileSizeBytes' | 'tmpfsBytes'>): Limits {
  return {
    wallTimeMs: config.wallTimeMs,
    cpuTimeMs: config.cpuTimeMs,
    memoryBytes: config.memoryBytes,
    processes: config.processes,
    stdoutBytes: config.outputBytes,
    stderrBytes: config.outputBytes,
    fileSizeBytes: config.fileSizeBytes,
    tmpfsBytes: config.tmpfsBytes,
    openFiles: 64,
  };
}

function maxLimits(a: Limits, b: Limits): Limits {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Limits)[]) out[k] = Math.max(a[k], b[k]);
  return out;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Replace `$name` words in a command with the resolved toolchain paths. */
function expand(command: string[], toolchain: Record<string, string | null>): string[] {
  return command.map((word) => word.replace(/\$([a-z][a-z0-9_]*)/g, (m, name: string) => toolchain[name] ?? m));
}

function checkRefs(file: string, p: LanguageProfileJson): string[] {
  const problems: string[] = [];
  const commands: [string, string[]][] = [
    ['version.command', p.version.command],
    ['run.command', p.run.command],
  ];
  if (p.compile) commands.push(['compile.command', p.compile.command]);
  for (const [field, cmd] of commands) {
    for (const m of cmd.join(' ').matchAll(/\$([a-z][a-z0-9_]*)/g)) {
      if (!(m[1] in p.toolchain)) problems.push(`${field}: $${m[1]} is not declared in toolchain`);
    }
    if (!cmd[0].startsWith('$') && !cmd[0].startsWith('/')) problems.push(`${field}: the program must be $name or an absolute path`);
    for (const name of unknownPlaceholders(cmd)) problems.push(`${field}: {${name}} is not a known placeholder`);
  }
  try {
    new RegExp(p.version.pattern);
  } catch {
    problems.push('version.pattern: not a valid regular expression');
  }
  void file;
  return problems;
}

async function probeVersion(argv: string[], pattern: string): Promise<string | null> {
  try {
    const r = await execa(argv[0], argv.slice(1), { reject: false, timeout: 10_000, extendEnv: false, env: { PATH: '/usr/bin:/bin' }, stdin: 'ignore', all: true });
    const m = new RegExp(pattern).exec(r.all ?? '');
    return m ? (m[1] ?? m[0]) : null;
  } catch {
    return null;
  }
}

/** Parse and validate one profile file; every problem is reported with the field named. */
export function parseProfile(file: string, text: string): LanguageProfileJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  const problems = [...Value.Errors(LanguageProfileSchema, json)].map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) throw new ProfileError(file, problems);
  const profile = json as LanguageProfileJson;
  const refProblems = checkRefs(file, profile);
  if (refProblems.length > 0) throw new ProfileError(file, refProblems);
  return profile;
}

export class LanguageRegistry {
  private readonly byName = new Map<string, LanguageProfile>();

  private constructor(private readonly profiles: LanguageProfile[]) {
    for (const p of profiles) {
      for (const name of [p.id, ...p.aliases]) {
        if (this.byName.has(name)) throw new ProfileError(p.file, [`id/alias ${JSON.stringify(name)} is also used by ${this.byName.get(name)!.file}`]);
        this.byName.set(name, p);
      }
    }
  }

  /** Load every sandbox-profiles/languages/*.json, resolve toolchains and probe versions (in parallel). */
  static async load(profilesDir: string, config: Parameters<typeof baseLimits>[0], opts: { probeVersions?: boolean } = {}): Promise<LanguageRegistry> {
    const dir = path.join(profilesDir, 'languages');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    const base = baseLimits(config);
    const profiles = await Promise.all(
      files.map(async (name) => {
        const file = path.join(dir, name);
        const text = fs.readFileSync(file, 'utf8');
        const json = parseProfile(file, text);
        const seccompFile = path.join(profilesDir, 'seccomp', `${json.seccomp}.json`);
        if (!fs.existsSync(seccompFile)) {
          throw new ProfileError(file, [`seccomp: no file seccomp/${json.seccomp}.json`]);
        }
        const toolchain: Record<string, string | null> = {};
        const missing: string[] = [];
        for (const [tool, candidates] of Object.entries(json.toolchain)) {
          toolchain[tool] = candidates.find(isExecutable) ?? null;
          if (!toolchain[tool]) missing.push(`${tool} (looked for ${candidates.join(', ')})`);
        }
        const available = missing.length === 0;
        const def: Limits = { ...base, ...json.limits?.default };
        const maximum: Limits = maxLimits(def, { ...BUILTIN_MAXIMUM, ...json.limits?.maximum });
        const compileLimits: Limits | null = json.compile ? { ...def, ...json.compile.limits } : null;
        const version = available && opts.probeVersions !== false ? await probeVersion(expand(json.version.command, toolchain), json.version.pattern) : null;
        const profile: LanguageProfile = {
          id: json.id,
          name: json.name,
          aliases: json.aliases ?? [],
          extensions: json.extensions,
          sourceFile: json.sourceFile,
          toolchain,
          available,
          missing,
          version,
          compile: json.compile && compileLimits ? { argv: expand(json.compile.command, toolchain), limits: compileLimits } : null,
          run: { argv: expand(json.run.command, toolchain) },
          env: json.env ?? {},
          binds: json.binds ?? [],
          seccomp: json.seccomp,
          template: json.template,
          limits: { default: def, maximum },
          entryPoint: json.entryPoint ?? null,
          file,
          digest: sha256(`${text}\0${JSON.stringify(toolchain)}`),
          seccompDigest: sha256(fs.readFileSync(seccompFile)),
        };
        return profile;
      }),
    );
    return new LanguageRegistry(profiles);
  }

  list(): LanguageProfile[] {
    return [...this.profiles];
  }

  find(idOrAlias: string): LanguageProfile | undefined {
    return this.byName.get(idOrAlias.toLowerCase());
  }

  /** The profile to run with; 422 for an unknown language or one whose toolchain is missing here. */
  resolve(idOrAlias: string): LanguageProfile {
    const p = this.find(idOrAlias);
    if (!p) throw new UnsupportedLanguageError(idOrAlias, 'unknown');
    if (!p.available) throw new UnsupportedLanguageError(idOrAlias, 'toolchain_missing');
    return p;
  }

  /** Language for a file name, by extension (for `codexec run FILE`). */
  forFile(fileName: string): LanguageProfile | undefined {
    const ext = path.extname(fileName).toLowerCase();
    return this.profiles.find((p) => p.extensions.includes(ext));
  }
}
