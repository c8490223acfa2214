import type { Limits } from '../domain/limits.js';

// Pure functions: what an execution's process chain looks like. Nothing here runs anything, so the
// whole policy (namespaces, mounts, limits, environment) is unit-tested without a sandbox.

/** Descriptor numbers shared by the worker and the launcher. */
export const FD = { stdin: 0, stdout: 1, stderr: 2, input: 3, status: 4, compileOutput: 5 } as const;

export const WORKDIR = '/work';

/**
 * Nice value of every program (and compiler). The scheduler weighs nice values only among tasks of
 * the same cgroup: across groups, the low CPU weight of the executions' parent group
 * (cgroups/detect.ts) is what lets the API win the CPU while programs saturate the cores. Nice
 * covers hosts without the cpu controller, and is kept low for anything the program starts.
 */
export const PROGRAM_NICE = 10;

/** Read-only host paths every execution sees: the system's programs and libraries, nothing else. */
export const BASE_BINDS = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib64',
  '/lib32',
  '/libx32',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/localtime',
] as const;

/** Namespaces created by util-linux unshare; the launcher's first child is pid 1 of the new pid ns. */
export const UNSHARE_FLAGS = ['--pid', '--mount', '--net', '--ipc', '--uts'] as const;

export interface PhaseSpec {
  name: 'compile' | 'run';
  argv: string[];
  limits: Limits;
  /** cgroup.procs files the phase joins (one per hierarchy on cgroup v1, one on v2). */
  cgroupProcs: string[];
  /** Program's RLIMIT_AS in bytes; 0/undefined: none (the cgroup limits memory). */
  addressSpaceBytes?: number;
}

export interface SandboxSpec {
  unsharePath: string;
  launcherPath: string;
  uid: number;
  gid: number;
  /** Extra read-only paths from the language profile. */
  binds: string[];
  env: Record<string, string>;
  tmpfsBytes: number;
  phases: PhaseSpec[];
  seccomp: boolean;
}

export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: WORKDIR,
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
};

/** The program's whole environment: ours plus the profile's; never the worker's. */
export function programEnv(profileEnv: Record<string, string>): string[] {
  return Object.entries({ ...BASE_ENV, ...profileEnv }).map(([k, v]) => `${k}=${v}`);
}

/** argv for execa: unshare [namespaces] -- launcher [options] (phases...). */
export function buildSandboxCommand(spec: SandboxSpec): { file: string; args: string[] } {
  return { file: spec.unsharePath, args: [...UNSHARE_FLAGS, '--', spec.launcherPath, ...buildLauncherArgs(spec)] };
}

/** The launcher's options (phases...): its command line, or what a fork-server request carries. */
export function buildLauncherArgs(spec: Omit<SandboxSpec, 'unsharePath' | 'launcherPath'>): string[] {
  const args: string[] = ['--input-fd', String(FD.input), '--status-fd', String(FD.status)];
  args.push('--uid', String(spec.uid), '--gid', String(spec.gid), '--workdir', WORKDIR);
  if (!spec.seccomp) args.push('--no-seccomp');
  args.push('--nice', String(PROGRAM_NICE));
  for (const path of dedupe([...BASE_BINDS, ...spec.binds])) args.push('--ro', path);
  args.push('--tmpfs', `${WORKDIR}:${spec.tmpfsBytes}:755`, '--tmpfs', `/tmp:${spec.tmpfsBytes}:1777`);
  for (const kv of programEnv(spec.env)) args.push('--env', kv);
  for (const phase of spec.phases) {
    const l = phase.limits;
    args.push('--phase', phase.name);
    for (const procs of phase.cgroupProcs) args.push('--cgroup', procs);
    args.push('--wall-ms', String(l.wallTimeMs), '--cpu-ms', String(l.cpuTimeMs));
    args.push('--fsize', String(l.fileSizeBytes), '--nofile', String(l.openFiles), '--stack', String(8 * 1024 * 1024));
    if (phase.addressSpaceBytes) args.push('--as', String(phase.addressSpaceBytes));
    if (phase.name === 'compile') args.push('--output-fd', String(FD.compileOutput), '--stdin-null');
    args.push('--exec', ...phase.argv, '--end');
  }
  return args;
}

function dedupe(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** The launcher's input stream: source files and the compiled seccomp filter. */
export function encodeLauncherInput(files: { name: string; content: Buffer | string }[], seccompFilter: Buffer | null): Buffer {
  const parts: Buffer[] = [];
  const record = (type: 'F' | 'S', name: string, data: Buffer) => {
    const nameBuf = Buffer.from(name, 'utf8');
    const head = Buffer.alloc(1 + 4 + nameBuf.length + 4);
    head.write(type, 0, 'latin1');
    head.writeUInt32LE(nameBuf.length, 1);
    nameBuf.copy(head, 5);
    head.writeUInt32LE(data.length, 5 + nameBuf.length);
    parts.push(head, data);
  };
  for (const f of files) {
    if (!isSafeFileName(f.name)) throw new Error(`unsafe file name ${JSON.stringify(f.name)}`);
    record('F', f.name, Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content, 'utf8'));
  }
  if (seccompFilter) record('S', '', seccompFilter);
  return Buffer.concat(parts);
}

/** One path component of printable ASCII: no separators, no traversal, no control characters. */
export function isSafeFileName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name) && name !== '.' && name !== '..';
}
