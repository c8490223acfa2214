import { encodeRecord, FD, FILE_LIMITS, isSafeRelativePath, MAX_INPUT_BYTES, RECORD } from './protocol.js';
import type { SandboxFile } from './request.js';
import type { SandboxSpec } from './spec.js';

// Pure functions: a spec (spec.ts) and what is decided per execution (uid, cgroups) in, the
// launcher's options and input out (native/args.c, native/PROTOCOL.md). Nothing here runs anything.

/** What each execution gets on top of its spec. */
export interface SandboxRuntime {
  uid: number;
  gid: number;
  /** Per phase, in the spec's order: the cgroup.procs files it joins (one per hierarchy on v1). */
  cgroupProcs: string[][];
}

/**
 * The launcher's options: what a fork-server request carries (native/PROTOCOL.md, "The options of
 * a run"). Every option takes a fixed number of words; the program's words are counted.
 */
export function launcherArgs(spec: SandboxSpec, rt: SandboxRuntime): string[] {
  const args: string[] = ['--input-fd', String(FD.input), '--status-fd', String(FD.status)];
  args.push('--uid', String(rt.uid), '--gid', String(rt.gid), '--hostname', spec.hostname, '--workdir', spec.workdir);
  if (!spec.seccomp) args.push('--no-seccomp');
  args.push('--nice', String(spec.niceValue));
  for (const path of spec.binds) args.push('--ro', path);
  for (const path of spec.maskedPaths) args.push('--mask', path);
  args.push('--tmpfs', `${spec.workdir}:${spec.workdirBytes}:755`, '--tmpfs', `/tmp:${spec.tmpBytes}:1777`);
  for (const [k, v] of Object.entries(spec.env)) args.push('--env', `${k}=${v}`);
  if (spec.exportMaxBytes !== null) args.push('--export-fd', String(FD.export), '--export-max-bytes', String(spec.exportMaxBytes));
  spec.phases.forEach((phase, i) => {
    args.push('--phase', phase.name);
    for (const procs of rt.cgroupProcs[i] ?? []) args.push('--cgroup', procs);
    args.push('--wall-ms', String(phase.wallTimeMs), '--cpu-ms', String(phase.cpuTimeMs));
    args.push('--fsize', String(phase.fileSizeBytes), '--nofile', String(phase.openFiles), '--stack', String(phase.stackBytes));
    if (phase.mergedOutput) args.push('--output-fd', String(FD.compileOutput));
    if (phase.stdinNull) args.push('--stdin-null');
    // Counted, not terminated: a word of the program's argv (a client's, through Piston's args or
    // Judge0's command_line_arguments) is never read as an option, whatever it says.
    args.push('--exec', String(phase.argv.length), ...phase.argv);
  });
  return args;
}

/** The launcher's input: the files of the working directory, then the compiled seccomp filter. */
export function encodeLauncherInput(files: SandboxFile[], seccompFilter: Buffer | null): Buffer {
  if (files.length > FILE_LIMITS.files) throw new Error(`${files.length} files: at most ${FILE_LIMITS.files}`);
  const parts: Buffer[] = [];
  for (const f of files) {
    if (!isSafeRelativePath(f.path)) throw new Error(`unsafe file path ${JSON.stringify(f.path)}`);
    parts.push(...encodeRecord(f.executable ? RECORD.executable : RECORD.file, f.path, f.content));
  }
  if (seccompFilter) parts.push(...encodeRecord(RECORD.seccomp, '', seccompFilter));
  const input = Buffer.concat(parts);
  if (input.length > MAX_INPUT_BYTES) throw new Error(`the files take ${input.length} bytes: at most ${MAX_INPUT_BYTES}`);
  return input;
}
