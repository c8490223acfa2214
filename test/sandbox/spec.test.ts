import { describe, expect, it } from 'vitest';
import type { Limits } from '../../src/domain/limits.js';
import type { ExecutionPlan } from '../../src/domain/plan.js';
import { SandboxSetupError } from '../../src/domain/errors.js';
import { encodeLauncherInput, launcherArgs } from '../../src/sandbox/launcher-args.js';
import { decodeRecords, isSafeRelativePath } from '../../src/sandbox/protocol.js';
import { BASE_BINDS, MASKED_PATHS, buildSandboxSpec, checkSpec, sharedRoot } from '../../src/sandbox/spec.js';

// The sandbox spec and the launcher's options, as pure functions: nothing runs here.

const MiB = 1024 * 1024;
const limits: Limits = { wallTimeMs: 5000, cpuTimeMs: 4000, memoryBytes: 256 * MiB, processes: 64, stdoutBytes: 65536, stderrBytes: 65536, fileSizeBytes: 16 * MiB, tmpfsBytes: 32 * MiB, openFiles: 64 };
const plan = (over: Partial<ExecutionPlan> = {}): Pick<ExecutionPlan, 'compile' | 'run' | 'env' | 'binds'> => ({
  compile: { argv: ['/usr/bin/gcc', '-o', 'main', 'main.c'], limits: { ...limits, memoryBytes: 512 * MiB, wallTimeMs: 30_000 } },
  run: { argv: ['/work/main'], limits },
  env: { PYTHONUNBUFFERED: '1' },
  binds: ['/usr/lib/jvm'],
  ...over,
});
const rt = { uid: 201234, gid: 201234, cgroupProcs: [['/sys/fs/cgroup/memory/codexec/x-c/cgroup.procs'], ['/sys/fs/cgroup/memory/codexec/x-r/cgroup.procs']] };
const optionValues = (args: string[], name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]!] : []));

describe('buildSandboxSpec', () => {
  it('begins every spec\'s binds and masks with the host\'s shared root, in its order (a fork server\'s standby builds that part ahead)', () => {
    const masks = ['/proc/keys', '/proc/cmdline'];
    for (const settings of [{}, { maskedPaths: masks }]) {
      const root = sharedRoot(settings);
      // A plan that repeats a base bind does not move it: the base stays a prefix.
      const p = { ...plan(), binds: ['/usr/lib/jvm', '/usr', root.binds.at(-1)!] };
      const spec = buildSandboxSpec({ plan: p, phases: ['run'], exportWorkdir: false }, settings);
      expect(spec.binds.slice(0, root.binds.length)).toEqual(root.binds);
      expect(spec.binds.slice(root.binds.length)).toEqual(['/usr/lib/jvm']);
      expect(spec.maskedPaths).toEqual(root.maskedPaths);
    }
    expect(sharedRoot({ maskedPaths: masks }).maskedPaths).toEqual(masks);
    expect(sharedRoot().maskedPaths).toEqual([...MASKED_PATHS]);
  });

  it('takes the phases, limits, env and binds from the plan, and restrictive defaults for the rest', () => {
    const spec = buildSandboxSpec({ plan: plan(), phases: ['compile', 'run'], exportWorkdir: false });
    expect(spec.phases.map((p) => [p.name, p.memoryBytes, p.wallTimeMs, p.stdinNull, p.mergedOutput])).toEqual([
      ['compile', 512 * MiB, 30_000, true, true],
      ['run', 256 * MiB, 5000, false, false],
    ]);
    expect(spec.phases[1]!.stackBytes).toBe(8 * MiB);
    expect(spec.phases[1]!.cpuQuotaPercent).toBe(100);
    expect(spec.seccomp).toBe(true);
    expect(spec.niceValue).toBe(10);
    expect(spec.binds).toEqual([...BASE_BINDS, '/usr/lib/jvm']);
    expect(spec.maskedPaths).toEqual([...MASKED_PATHS]);
    expect(spec.env.HOME).toBe('/work');
    expect(spec.env.PYTHONUNBUFFERED).toBe('1');
    expect(Object.keys(spec.env).some((k) => k.startsWith('CODEXEC_') || k === 'USER')).toBe(false);
    expect(spec.exportMaxBytes).toBeNull();
    expect(spec.workdirBytes).toBe(32 * MiB);
  });
  it('exports at most the working directory\'s size, and only when asked', () => {
    expect(buildSandboxSpec({ plan: plan(), phases: ['compile'], exportWorkdir: true }).exportMaxBytes).toBe(32 * MiB);
  });
  it('takes the host\'s settings over the defaults', () => {
    const spec = buildSandboxSpec({ plan: plan(), phases: ['run'], exportWorkdir: false }, { stackBytes: 16 * MiB, niceValue: 5, io: { readIops: 10 } });
    expect(spec.phases[0]!.stackBytes).toBe(16 * MiB);
    expect(spec.niceValue).toBe(5);
    expect(spec.io.readIops).toBe(10);
    expect(spec.io.readBytesPerSecond).toBe(64 * MiB);
  });
  it('refuses what the schema does not allow, naming every field', () => {
    expect(() => buildSandboxSpec({ plan: plan({ compile: null }), phases: ['compile', 'run'], exportWorkdir: false })).toThrow(SandboxSetupError);
    expect(() => buildSandboxSpec({ plan: plan(), phases: ['run'], exportWorkdir: false }, { niceValue: 40 })).toThrow(/niceValue/);
    const bad = { ...buildSandboxSpec({ plan: plan(), phases: ['run'], exportWorkdir: false }), env: { 'A=B': 'x' }, binds: ['relative'] };
    expect(() => checkSpec(bad)).toThrow(/\/env.*\/binds|\/binds.*\/env/s);
  });
});

describe('launcherArgs', () => {
  const args = launcherArgs(buildSandboxSpec({ plan: plan(), phases: ['compile', 'run'], exportWorkdir: true }), rt);
  it('never asks the launcher to skip seccomp', () => {
    expect(args).not.toContain('--no-seccomp');
  });
  it('binds only the system paths and the profile\'s extras, read-only, and masks /proc paths', () => {
    const ro = optionValues(args, '--ro');
    expect(ro).toEqual([...BASE_BINDS, '/usr/lib/jvm']);
    expect(ro.some((p) => p.startsWith('/root') || p.startsWith('/home') || p === '/etc' || p.startsWith('/var') || p.startsWith('/sys'))).toBe(false);
    expect(optionValues(args, '--mask')).toContain('/proc/cmdline');
  });
  it('passes an unprivileged uid, size-limited tmpfs mounts, the export and the phase limits', () => {
    expect(optionValues(args, '--uid')).toEqual(['201234']);
    expect(optionValues(args, '--tmpfs')).toEqual([`/work:${32 * MiB}:755`, `/tmp:${32 * MiB}:1777`]);
    expect(optionValues(args, '--export-fd')).toEqual(['7']);
    expect(optionValues(args, '--export-max-bytes')).toEqual([String(32 * MiB)]);
    expect(optionValues(args, '--cpu-ms')).toEqual(['4000', '4000']);
    expect(optionValues(args, '--stack')).toEqual([String(8 * MiB), String(8 * MiB)]);
    expect(optionValues(args, '--cgroup')).toEqual([rt.cgroupProcs[0]![0], rt.cgroupProcs[1]![0]]);
    const exec = args.lastIndexOf('--exec');
    expect(args.slice(exec + 1)).toEqual(['1', '/work/main']);
  });
  // The program's words are counted, never terminated (native/PROTOCOL.md): whatever a client puts
  // in them stays a word of the program, and the launcher options before them are as they were.
  it('counts the program\'s words, so that none of them can be read as an option', () => {
    const hostile = ['/work/main', '--end', '--no-seccomp', '--uid', '0', '--ro', '/', '--exec', '1', '/bin/sh', '--phase'];
    const a = launcherArgs(buildSandboxSpec({ plan: plan({ run: { argv: hostile, limits } }), phases: ['run'], exportWorkdir: false }), { ...rt, cgroupProcs: [rt.cgroupProcs[1]!] });
    const exec = a.indexOf('--exec');
    expect(a.slice(exec)).toEqual(['--exec', String(hostile.length), ...hostile]);
    expect(a.slice(0, exec)).not.toContain('--no-seccomp');
    expect(optionValues(a.slice(0, exec), '--uid')).toEqual(['201234']);
  });
  it('refuses a word with a NUL, which would split in two on the wire', () => {
    expect(() => buildSandboxSpec({ plan: plan({ run: { argv: ['/work/main', 'a\0--no-seccomp'], limits } }), phases: ['run'], exportWorkdir: false })).toThrow(/argv/);
    expect(() => buildSandboxSpec({ plan: plan({ env: { X: 'a\0b' } }), phases: ['run'], exportWorkdir: false })).toThrow(/env/);
  });
  it('sends compile output to its own descriptor and gives the compiler no stdin', () => {
    const compile = args.slice(args.indexOf('compile'), args.indexOf('run'));
    expect(compile).toContain('--stdin-null');
    expect(compile[compile.indexOf('--output-fd') + 1]).toBe('5');
    const run = args.slice(args.lastIndexOf('--phase'));
    expect(run).not.toContain('--stdin-null');
  });
});

describe('launcher input', () => {
  it('encodes files (executable or not, in directories) and the filter as records, and reads them back', () => {
    const buf = encodeLauncherInput(
      [
        { path: 'main.py', content: Buffer.from('print(1)'), executable: false },
        { path: 'pkg/Main$1.class', content: Buffer.from([0xca, 0xfe]), executable: false },
        { path: 'main', content: Buffer.from('\x7fELF'), executable: true },
      ],
      Buffer.alloc(16, 7),
    );
    expect(buf[0]).toBe('F'.charCodeAt(0));
    expect(buf.readUInt32LE(1)).toBe(7);
    expect(buf.subarray(5, 12).toString()).toBe('main.py');
    expect(decodeRecords(buf).map((r) => [r.type, r.name, r.data.length])).toEqual([
      ['F', 'main.py', 8],
      ['F', 'pkg/Main$1.class', 2],
      ['E', 'main', 4],
      ['S', '', 16],
    ]);
  });
  it('refuses paths that could leave the working directory, and too many files', () => {
    for (const bad of ['../x', '/etc/passwd', 'a/../b', 'a//b', 'a/', '.', '..', '', 'x\0y', 'a\nb', `${'d/'.repeat(16)}f`, 'x'.repeat(256)]) {
      expect(isSafeRelativePath(bad), bad).toBe(false);
      expect(() => encodeLauncherInput([{ path: bad, content: Buffer.alloc(0), executable: false }], null)).toThrow();
    }
    for (const ok of ['main.py', 'Main.java', 'a-b_c.1', '.hidden', 'com/example/Main$Inner.class', `${'d/'.repeat(15)}f`]) expect(isSafeRelativePath(ok), ok).toBe(true);
    const many = Array.from({ length: 1025 }, (_, i) => ({ path: `f${i}`, content: Buffer.alloc(0), executable: false }));
    expect(() => encodeLauncherInput(many, null)).toThrow(/at most 1024/);
  });
  it('refuses a truncated or unknown record', () => {
    const buf = encodeLauncherInput([{ path: 'a', content: Buffer.from('xyz'), executable: false }], null);
    expect(() => decodeRecords(buf.subarray(0, buf.length - 1))).toThrow(/truncated/);
    expect(() => decodeRecords(Buffer.concat([Buffer.from('Q'), buf.subarray(1)]))).toThrow(/unknown record/);
  });
});
