import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { IsolationUnavailableError, ProfileError } from '../../domain/errors.js';
import { compileSeccompWithReport, type SeccompArch } from './compile.js';
import { parseSeccompProfile } from './profile.js';

export { compileSeccomp, compileSeccompWithReport, syscallTable, type SeccompArch } from './compile.js';
export { parseSeccompProfile, type SeccompProfile } from './profile.js';

/** A profile ready for the launcher. */
export interface CompiledSeccomp {
  name: string;
  file: string;
  arch: SeccompArch;
  /** struct sock_filter[] bytes, 8 per instruction. */
  filter: Buffer;
  instructionCount: number;
  warnings: string[];
  /** sha256 of the file as loaded, recorded with every result it filtered. */
  digest: string;
}

/** The seccomp architecture of this process, or an error when codexec has no table for it. */
export function hostSeccompArch(): SeccompArch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new IsolationUnavailableError([`seccomp: no system call table for CPU architecture ${process.arch} (supported: x64, arm64)`]);
}

// Compiled profiles are immutable and the files are read once per process: profiles are loaded at
// startup, and a changed file takes effect on restart. A failed load is not cached.
const cache = new Map<string, Promise<CompiledSeccomp>>();

/** Reads `<profilesDir>/seccomp/<name>.json`, validates and compiles it for `arch` (default: this host). */
export function loadSeccompProfile(profilesDir: string, name: string, arch: SeccompArch = hostSeccompArch()): Promise<CompiledSeccomp> {
  const file = path.resolve(profilesDir, 'seccomp', `${name}.json`);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name) || name.includes('..'))
    return Promise.reject(new ProfileError(file, [`seccomp profile name ${JSON.stringify(name)}: expected lowercase letters, digits, '.', '_' or '-'`]));
  const key = `${file}\0${arch}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = compileFile(file, name, arch);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

/**
 * Validates and compiles every profile in `<profilesDir>/seccomp/` for this host, at startup: a
 * broken file stops the start with its name, instead of failing the first run that names it.
 */
export async function loadAllSeccompProfiles(profilesDir: string, arch: SeccompArch = hostSeccompArch()): Promise<CompiledSeccomp[]> {
  const dir = path.resolve(profilesDir, 'seccomp');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
  } catch (err) {
    throw new ProfileError(dir, [`cannot list the seccomp profiles: ${(err as Error).message}`]);
  }
  return Promise.all(names.sort().map((name) => loadSeccompProfile(profilesDir, name, arch)));
}

async function compileFile(file: string, name: string, arch: SeccompArch): Promise<CompiledSeccomp> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ProfileError(file, [`cannot read: ${(err as Error).message}`]);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ProfileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  const profile = parseSeccompProfile(raw, file);
  const { filter, instructionCount, warnings } = compileSeccompWithReport(profile, arch);
  return { name, file, arch, filter, instructionCount, warnings, digest };
}
