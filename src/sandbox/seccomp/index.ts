import { readFile } from 'node:fs/promises';
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

async function compileFile(file: string, name: string, arch: SeccompArch): Promise<CompiledSeccomp> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ProfileError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  const profile = parseSeccompProfile(raw, file);
  const { filter, instructionCount, warnings } = compileSeccompWithReport(profile, arch);
  return { name, file, arch, filter, instructionCount, warnings };
}
