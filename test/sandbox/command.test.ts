import { describe, expect, it } from 'vitest';
import { BASE_BINDS, buildSandboxCommand, encodeLauncherInput, isSafeFileName, programEnv, type SandboxSpec } from '../../src/sandbox/command.js';
import type { Limits } from '../../src/domain/limits.js';

const limits: Limits = { wallTimeMs: 5000, cpuTimeMs: 4000, memoryBytes: 256 << 20, processes: 64, stdoutBytes: 65536, stderrBytes: 65536, fileSizeBytes: 1 << 24, tmpfsBytes: 1 << 25, openFiles: 64 };
const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  unsharePath: '/usr/bin/unshare',
  launcherPath: '/opt/codexec/build/codexec-launcher',
  uid: 201234,
  gid: 201234,
  binds: ['/usr/lib/jvm'],
  env: { PYTHONUNBUFFERED: '1' },
  tmpfsBytes: 1 << 25,
  phases: [{ name: 'run', argv: ['/usr/bin/python3', 'main.py'], limits, cgroupProcs: ['/sys/fs/cgroup/memory/codexec/x/cgroup.procs'] }],
  seccomp: true,
  ...over,
});

describe('buildSandboxCommand', () => {
  it('creates pid, mount, net, ipc and uts namespaces with util-linux unshare, then execs the launcher', () => {
    const { file, args } = buildSandboxCommand(spec());
    expect(file).toBe('/usr/bin/unshare');
    const sep = args.indexOf('--');
    expect(args.slice(0, sep).sort()).toEqual(['--ipc', '--mount', '--net', '--pid', '--uts']);
    expect(args[sep + 1]).toBe('/opt/codexec/build/codexec-launcher');
  });
  it('never asks the launcher to skip seccomp unless told to', () => {
    expect(buildSandboxCommand(spec()).args).not.toContain('--no-seccomp');
    expect(buildSandboxCommand(spec({ seccomp: false })).args).toContain('--no-seccomp');
  });
  it('binds only the system paths and the profile\'s extras, read-only', () => {
    const { args } = buildSandboxCommand(spec());
    const ro = args.flatMap((a, i) => (a === '--ro' ? [args[i + 1]] : []));
    expect(ro).toEqual([...BASE_BINDS, '/usr/lib/jvm']);
    expect(ro.some((p) => p.startsWith('/root') || p.startsWith('/home') || p === '/etc' || p.startsWith('/var') || p.startsWith('/sys'))).toBe(false);
  });
  it('passes an unprivileged uid, size-limited tmpfs mounts and the phase limits', () => {
    const { args } = buildSandboxCommand(spec());
    expect(args[args.indexOf('--uid') + 1]).toBe('201234');
    expect(args).toContain(`/work:${1 << 25}:755`);
    expect(args).toContain(`/tmp:${1 << 25}:1777`);
    expect(args[args.indexOf('--cpu-ms') + 1]).toBe('4000');
    expect(args[args.indexOf('--wall-ms') + 1]).toBe('5000');
    expect(args[args.indexOf('--cgroup') + 1]).toBe('/sys/fs/cgroup/memory/codexec/x/cgroup.procs');
    const exec = args.indexOf('--exec');
    expect(args.slice(exec + 1, args.indexOf('--end', exec))).toEqual(['/usr/bin/python3', 'main.py']);
  });
  it('sends compile output to its own descriptor and gives the compiler no stdin', () => {
    const { args } = buildSandboxCommand(spec({ phases: [{ name: 'compile', argv: ['/usr/bin/gcc', 'main.c'], limits, cgroupProcs: [] }, { name: 'run', argv: ['./main'], limits, cgroupProcs: [] }] }));
    const compile = args.slice(args.indexOf('compile'), args.indexOf('run'));
    expect(compile).toContain('--stdin-null');
    expect(compile[compile.indexOf('--output-fd') + 1]).toBe('5');
  });
});

describe('programEnv', () => {
  it('is ours plus the profile\'s, never the worker\'s', () => {
    const env = programEnv({ X: '1' });
    expect(env).toContain('X=1');
    expect(env).toContain('HOME=/work');
    expect(env.some((e) => e.startsWith('CODEXEC_') || e.startsWith('USER=') || e.includes(process.env.HOME ?? '/root'))).toBe(false);
  });
});

describe('launcher input', () => {
  it('encodes files and the filter as length-prefixed records', () => {
    const buf = encodeLauncherInput([{ name: 'main.py', content: 'print(1)' }], Buffer.alloc(16, 7));
    expect(buf[0]).toBe('F'.charCodeAt(0));
    expect(buf.readUInt32LE(1)).toBe(7);
    expect(buf.subarray(5, 12).toString()).toBe('main.py');
    expect(buf.readUInt32LE(12)).toBe(8);
    const s = 16 + 8;
    expect(buf[s]).toBe('S'.charCodeAt(0));
    expect(buf.readUInt32LE(s + 5)).toBe(16);
    expect(buf.length).toBe(s + 9 + 16);
  });
  it('refuses file names that could leave the working directory', () => {
    for (const bad of ['../x', '/etc/passwd', 'a/b', '.', '..', '', 'x\0y', '.hidden', 'a\nb']) {
      expect(isSafeFileName(bad), bad).toBe(false);
      expect(() => encodeLauncherInput([{ name: bad, content: '' }], null)).toThrow();
    }
    for (const ok of ['main.py', 'Main.java', 'main.c', 'a-b_c.1']) expect(isSafeFileName(ok)).toBe(true);
  });
});
