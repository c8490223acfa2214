import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/domain/errors.js';
import { compileSeccomp, compileSeccompWithReport, type SeccompArch } from '../../src/sandbox/seccomp/compile.js';
import { loadSeccompProfile } from '../../src/sandbox/seccomp/index.js';
import { parseSeccompProfile, type SeccompProfile } from '../../src/sandbox/seccomp/profile.js';
import { SYSCALLS_AARCH64 } from '../../src/sandbox/seccomp/syscalls-aarch64.js';
import { SYSCALLS_X86_64 } from '../../src/sandbox/seccomp/syscalls-x86_64.js';

// Unit tests of the seccomp compiler: nothing runs in the kernel here (seccomp-kernel.test.ts does
// that). The compiled program is evaluated by a small classic-BPF interpreter below, which is test
// scaffolding: it implements only the instructions a seccomp filter may use and that the kernel's
// action cache understands, and throws on anything else (or on a jump out of the program).

const PROFILES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sandbox-profiles');

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const AUDIT_ARCH_I386 = 0x40000003;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = (e: number) => (0x00050000 | e) >>> 0;
const EPERM = 1;
const ENOSYS = 38;

interface SeccompData {
  nr: number;
  arch: number;
  args?: (number | bigint)[];
}

// Instructions the last runBpf call executed, its RET included.
let lastSteps = 0;

/** Runs a classic BPF program against struct seccomp_data; returns the RET value. */
function runBpf(program: Buffer, data: SeccompData): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch, 4);
  mem.writeBigUInt64LE(0x401000n, 8);
  (data.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  const count = program.length / 8;
  let acc = 0;
  let pc = 0;
  for (let steps = 0; steps <= count; steps++) {
    if (pc >= count) throw new Error(`fell off the program at ${pc}`);
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    pc += 1;
    switch (code) {
      case 0x20: // LD W ABS
        if (k % 4 !== 0 || k > 60) throw new Error(`bad load offset ${k}`);
        acc = mem.readUInt32LE(k);
        break;
      case 0x05: // JA
        pc += k;
        break;
      case 0x15: // JEQ K
        pc += acc === k ? jt : jf;
        break;
      case 0x25: // JGT K
        pc += acc > k ? jt : jf;
        break;
      case 0x35: // JGE K
        pc += acc >= k ? jt : jf;
        break;
      case 0x45: // JSET K
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x54: // ALU AND K
        acc = (acc & k) >>> 0;
        break;
      case 0x06: // RET K
        lastSteps = steps + 1;
        return k;
      default:
        throw new Error(`instruction 0x${code.toString(16)} at ${pc - 1} is outside the allowed subset`);
    }
  }
  throw new Error('program did not terminate');
}

const TABLES: Record<SeccompArch, Readonly<Record<string, number>>> = { x86_64: SYSCALLS_X86_64, aarch64: SYSCALLS_AARCH64 };
const AUDIT: Record<SeccompArch, number> = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 };

function call(program: Buffer, arch: SeccompArch, name: string, args: (number | bigint)[] = []): number {
  const nr = TABLES[arch][name];
  if (nr === undefined) throw new Error(`${name} is not in the ${arch} table`);
  return runBpf(program, { nr, arch: AUDIT[arch], args });
}

function profile(raw: unknown): SeccompProfile {
  return parseSeccompProfile(raw, 'test.json');
}

const CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000; // VM FS FILES SIGHAND THREAD SYSVSEM SETTLS PARENT_SETTID CHILD_CLEARTID
const FORK_FLAGS = 17 /* SIGCHLD */ | 0x01000000 /* CHILD_SETTID */ | 0x00200000; /* CHILD_CLEARTID */
const NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

// What the brief requires the default profile to deny with EPERM (names that exist on the arch).
const MUST_DENY = [
  'ptrace', 'mount', 'umount2', 'pivot_root', 'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf',
  'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'open_by_handle_at',
  'name_to_handle_at', 'kexec_load', 'kexec_file_load', 'reboot', 'init_module', 'finit_module', 'delete_module',
  'swapon', 'swapoff', 'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'acct', 'quotactl',
  'lookup_dcookie', 'chroot', 'setdomainname', 'sethostname', 'iopl', 'ioperm', 'syslog', 'process_vm_readv',
  'process_vm_writev', 'kcmp', 'fsopen', 'fsmount', 'move_mount', 'open_tree', 'fspick', 'fsconfig', 'mount_setattr',
];

describe.each(['x86_64', 'aarch64'] as const)('default profile on %s', (arch) => {
  const load = () => loadSeccompProfile(PROFILES_DIR, 'default', arch);

  it('fits the kernel limits and warns only about calls this architecture lacks', async () => {
    const compiled = await load();
    expect(compiled.filter.length).toBe(compiled.instructionCount * 8);
    expect(compiled.instructionCount).toBeLessThanOrEqual(4096);
    for (const w of compiled.warnings) expect(w).toMatch(/^(not system calls on|architectures:)/);
  });

  it('denies every required call with EPERM', async () => {
    const { filter } = await load();
    const present = MUST_DENY.filter((n) => n in TABLES[arch]);
    expect(present.length).toBeGreaterThan(40);
    for (const name of present) expect([name, call(filter, arch, name)]).toEqual([name, RET_ERRNO(EPERM)]);
  });

  it('allows the ordinary calls of a program', async () => {
    const { filter } = await load();
    for (const name of ['read', 'write', 'openat', 'close', 'mmap', 'futex', 'execve', 'exit_group', 'rt_sigaction', 'getrandom', 'wait4'])
      expect([name, call(filter, arch, name)]).toEqual([name, RET_ALLOW]);
  });

  it('answers clone3 with ENOSYS so libc falls back to clone', async () => {
    const { filter } = await load();
    expect(call(filter, arch, 'clone3')).toBe(RET_ERRNO(ENOSYS));
  });

  it('allows clone for threads and fork, denies it with any namespace flag', async () => {
    const { filter } = await load();
    expect(call(filter, arch, 'clone', [CLONE_THREAD_FLAGS])).toBe(RET_ALLOW);
    expect(call(filter, arch, 'clone', [FORK_FLAGS])).toBe(RET_ALLOW);
    for (const [flag, bit] of Object.entries(NAMESPACE_FLAGS)) {
      expect([flag, call(filter, arch, 'clone', [CLONE_THREAD_FLAGS | bit])]).toEqual([flag, RET_ERRNO(EPERM)]);
      expect([flag, call(filter, arch, 'clone', [17 | bit])]).toEqual([flag, RET_ERRNO(EPERM)]);
    }
    // Bits in the high half of the 64-bit register are not namespace flags.
    expect(call(filter, arch, 'clone', [(1n << 40n) | BigInt(FORK_FLAGS)])).toBe(RET_ALLOW);
  });

  it('allows only the personality values Docker allows, comparing all 64 bits', async () => {
    const { filter } = await load();
    for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(call(filter, arch, 'personality', [v])).toBe(RET_ALLOW);
    for (const v of [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 1n << 32n, 0x1ffffffffn])
      expect(call(filter, arch, 'personality', [v])).toBe(RET_ERRNO(EPERM));
  });

  it('denies AF_VSOCK sockets only', async () => {
    const { filter } = await load();
    expect(call(filter, arch, 'socket', [2 /* AF_INET */, 1, 0])).toBe(RET_ALLOW);
    expect(call(filter, arch, 'socket', [1 /* AF_UNIX */, 1, 0])).toBe(RET_ALLOW);
    expect(call(filter, arch, 'socket', [40 /* AF_VSOCK */, 1, 0])).toBe(RET_ERRNO(EPERM));
  });

  it('kills calls from a foreign architecture', async () => {
    const { filter } = await load();
    expect(runBpf(filter, { nr: 20, arch: AUDIT_ARCH_I386 })).toBe(RET_KILL_PROCESS);
    const other = arch === 'x86_64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64;
    expect(runBpf(filter, { nr: 0, arch: other })).toBe(RET_KILL_PROCESS);
  });

  it('decides every call number as the profile says, each in a few instructions (a search, not a list)', async () => {
    const file = path.join(PROFILES_DIR, 'seccomp/default.json');
    const p = parseSeccompProfile(JSON.parse(readFileSync(file, 'utf8')), file);
    const { filter } = await load();
    const table = TABLES[arch];
    const max = Math.max(...Object.values(table));
    let longest = 0;
    for (let nr = 0; nr <= max + 3; nr++) {
      const rules = p.syscalls.filter((r) => r.names.some((n) => Object.hasOwn(table, n) && table[n] === nr));
      const probes: bigint[][] = [[0n, 0n, 0n, 0n, 0n, 0n], Array(6).fill(0xffffffff_ffffffffn)];
      for (const arg of rules.flatMap((r) => r.args))
        for (const v of [arg.value, arg.value + 1n, arg.value - 1n, arg.valueTwo]) {
          const args = Array<bigint>(6).fill(0n);
          args[arg.index] = BigInt.asUintN(64, v);
          probes.push(args);
        }
      for (const args of probes) {
        const got = runBpf(filter, { nr, arch: AUDIT[arch], args });
        expect({ nr, args, got }).toEqual({ nr, args, got: meaning(p, arch, nr, args) });
        if (rules.every((r) => r.args.length === 0)) longest = Math.max(longest, lastSteps);
      }
    }
    // ~log2(300) comparisons and the checks before them; one JEQ per listed call would be ~300.
    expect(longest).toBeLessThanOrEqual(20);
  });

  it('answers ENOSYS above the known table and EPERM for an unlisted known call', async () => {
    const { filter } = await load();
    const max = Math.max(...Object.values(TABLES[arch]));
    expect(runBpf(filter, { nr: max + 2, arch: AUDIT[arch] })).toBe(RET_ERRNO(ENOSYS)); // e.g. fchmodat2
    expect(call(filter, arch, 'ptrace')).toBe(RET_ERRNO(EPERM));
  });
});

describe('default profile', () => {
  it('kills x32 calls on x86_64', async () => {
    const { filter } = await loadSeccompProfile(PROFILES_DIR, 'default', 'x86_64');
    expect(runBpf(filter, { nr: 0x40000000 | SYSCALLS_X86_64.read, arch: AUDIT_ARCH_X86_64 })).toBe(RET_KILL_PROCESS);
    expect(runBpf(filter, { nr: 0x40000000 | SYSCALLS_X86_64.ptrace, arch: AUDIT_ARCH_X86_64 })).toBe(RET_KILL_PROCESS);
  });

  it('names only real system calls (a typo would silently deny)', async () => {
    const raw = JSON.parse(readFileSync(path.join(PROFILES_DIR, 'seccomp/default.json'), 'utf8'));
    const names = (raw.syscalls as { names: string[] }[]).flatMap((r) => r.names);
    const unknown = names.filter((n) => !(n in SYSCALLS_X86_64) && !(n in SYSCALLS_AARCH64));
    expect(unknown).toEqual([]);
  });

  it('is cached per name and architecture', async () => {
    const a = await loadSeccompProfile(PROFILES_DIR, 'default', 'x86_64');
    const b = await loadSeccompProfile(PROFILES_DIR, 'default', 'x86_64');
    expect(b).toBe(a);
  });

  it('rejects names that could leave the profiles directory', async () => {
    await expect(loadSeccompProfile(PROFILES_DIR, '../seccomp/default', 'x86_64')).rejects.toBeInstanceOf(ProfileError);
    await expect(loadSeccompProfile(PROFILES_DIR, 'no-such-profile', 'x86_64')).rejects.toThrow(/cannot read/);
  });
});

// Reference semantics for unsigned 64-bit comparisons, as libseccomp defines them.
function reference(op: string, arg: bigint, value: bigint, valueTwo: bigint): boolean {
  switch (op) {
    case 'SCMP_CMP_EQ': return arg === value;
    case 'SCMP_CMP_NE': return arg !== value;
    case 'SCMP_CMP_LT': return arg < value;
    case 'SCMP_CMP_LE': return arg <= value;
    case 'SCMP_CMP_GT': return arg > value;
    case 'SCMP_CMP_GE': return arg >= value;
    case 'SCMP_CMP_MASKED_EQ': return (arg & value) === valueTwo;
  }
  throw new Error(op);
}

// What a profile means for one call, read from the profile itself: its first rule for the call
// whose comparisons all hold, or the default action (ENOSYS above the table for an allow-list).
function meaning(p: SeccompProfile, arch: SeccompArch, nr: number, args: bigint[]): number {
  const value = (action: string, errnoRet?: number): number =>
    ({
      SCMP_ACT_ALLOW: RET_ALLOW,
      SCMP_ACT_ERRNO: RET_ERRNO(errnoRet ?? EPERM),
      SCMP_ACT_KILL: RET_KILL_PROCESS,
      SCMP_ACT_KILL_PROCESS: RET_KILL_PROCESS,
      SCMP_ACT_KILL_THREAD: 0,
      SCMP_ACT_TRAP: 0x00030000,
      SCMP_ACT_LOG: 0x7ffc0000,
    })[action]!;
  const table = TABLES[arch];
  if (p.defaultAction === 'SCMP_ACT_ERRNO' && nr > Math.max(...Object.values(table))) return RET_ERRNO(ENOSYS);
  for (const rule of p.syscalls) {
    if (!rule.names.some((n) => Object.hasOwn(table, n) && table[n] === nr)) continue;
    if (rule.args.every((a) => reference(a.op, args[a.index], a.value, a.valueTwo))) return value(rule.action, rule.errnoRet);
  }
  return value(p.defaultAction, p.defaultErrnoRet);
}

describe('argument comparisons', () => {
  const OPS = ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ'];
  const VALUES = [0n, 1n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 0x100000001n, 0x1ffffffffn, 0x2_00000005n, 0xffffffff_00000000n, 0xffffffff_ffffffffn];

  it.each(OPS)('%s matches unsigned 64-bit semantics in both halves', (op) => {
    for (const value of VALUES) {
      const valueTwo = op === 'SCMP_CMP_MASKED_EQ' ? value & 0x1_00000001n : 0n;
      const p = profile({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 7, args: [{ index: 3, op, value: `0x${value.toString(16)}`, valueTwo: `0x${valueTwo.toString(16)}` }] }],
      });
      const filter = compileSeccomp(p, 'x86_64');
      const probes = new Set<bigint>([...VALUES, ...VALUES.map((v) => v + 1n), ...VALUES.map((v) => v - 1n), value ^ (1n << 33n), value ^ 1n]);
      for (const raw of probes) {
        const a = BigInt.asUintN(64, raw);
        const expected = reference(op, a, value, valueTwo) ? RET_ERRNO(7) : RET_ALLOW;
        const got = call(filter, 'x86_64', 'getpid', [0, 0, 0, a]);
        expect({ op, value, arg: a, got }).toEqual({ op, value, arg: a, got: expected });
      }
    }
  });

  it('requires every comparison of a rule (AND) and takes the first matching rule', () => {
    const p = profile({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 13,
      syscalls: [
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3, args: [{ index: 0, op: 'SCMP_CMP_EQ', value: 1 }, { index: 1, op: 'SCMP_CMP_EQ', value: 9 }] },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, op: 'SCMP_CMP_LE', value: 15 }] },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 4 },
      ],
    });
    const filter = compileSeccomp(p, 'x86_64');
    expect(call(filter, 'x86_64', 'kill', [1, 9])).toBe(RET_ERRNO(3));
    expect(call(filter, 'x86_64', 'kill', [2, 9])).toBe(RET_ALLOW);
    expect(call(filter, 'x86_64', 'kill', [1, 15])).toBe(RET_ALLOW);
    expect(call(filter, 'x86_64', 'kill', [1, 16])).toBe(RET_ERRNO(4));
    expect(call(filter, 'x86_64', 'getpid')).toBe(RET_ERRNO(13));
  });

  it('jumps over a block longer than 255 instructions', () => {
    const rules = Array.from({ length: 80 }, (_, i) => ({
      names: ['ioctl'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: i + 1,
      args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 1000 + i }],
    }));
    const p = profile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [...rules, { names: ['write'], action: 'SCMP_ACT_ERRNO', errnoRet: 99 }] });
    const { filter, instructionCount } = compileSeccompWithReport(p, 'x86_64');
    expect(instructionCount).toBeGreaterThan(300);
    for (const i of [0, 41, 79]) expect(call(filter, 'x86_64', 'ioctl', [0, 1000 + i])).toBe(RET_ERRNO(i + 1));
    expect(call(filter, 'x86_64', 'ioctl', [0, 5])).toBe(RET_ALLOW);
    expect(call(filter, 'x86_64', 'write')).toBe(RET_ERRNO(99)); // the call after the long block
  });

  it('maps every action to its kernel value', () => {
    const actions: [string, number][] = [
      ['SCMP_ACT_KILL', RET_KILL_PROCESS],
      ['SCMP_ACT_KILL_PROCESS', RET_KILL_PROCESS],
      ['SCMP_ACT_KILL_THREAD', 0],
      ['SCMP_ACT_TRAP', 0x00030000],
      ['SCMP_ACT_LOG', 0x7ffc0000],
      ['SCMP_ACT_ERRNO', RET_ERRNO(EPERM)],
    ];
    for (const [action, value] of actions) {
      const filter = compileSeccomp(profile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getuid'], action }] }), 'aarch64');
      expect([action, call(filter, 'aarch64', 'getuid')]).toEqual([action, value]);
    }
  });

  it('a deny-list profile allows unknown and newer calls', () => {
    const filter = compileSeccomp(profile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO' }] }), 'x86_64');
    expect(runBpf(filter, { nr: 460, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ALLOW);
    expect(call(filter, 'x86_64', 'ptrace')).toBe(RET_ERRNO(EPERM));
  });
});

describe('profile validation', () => {
  it('collects every problem with its field and the file name', () => {
    let error: unknown;
    try {
      parseSeccompProfile(
        {
          defaultAction: 'SCMP_ACT_NOPE',
          flags: [],
          syscalls: [
            { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 7, op: 'SCMP_CMP_EQ', value: 1 }] },
            { names: ['write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_APPROX', value: 2 ** 60 }] },
            { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
            { names: [], action: 'SCMP_ACT_ERRNO' },
            { names: ['setuid'], action: 'SCMP_ACT_ERRNO', errnoRet: 0 },
            { names: ['read', 'no_such_call'], action: 'SCMP_ACT_ALLOW', errnoRet: 3 },
          ],
        },
        '/profiles/seccomp/bad.json',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProfileError);
    const { details, message } = error as ProfileError;
    expect(message).toContain('/profiles/seccomp/bad.json');
    const problems = (details as { problems: string[] }).problems.join('\n');
    expect(problems).toMatch(/^defaultAction:/m);
    expect(problems).toMatch(/^flags: unknown field/m);
    expect(problems).toMatch(/^syscalls\[0\]\.args\[0\]\.index:/m);
    expect(problems).toMatch(/^syscalls\[1\]\.args\[0\]\.op:/m);
    expect(problems).toMatch(/^syscalls\[1\]\.args\[0\]\.value: .*string/m);
    expect(problems).toMatch(/^syscalls\[2\]\.includes: conditional rules are not supported/m);
    expect(problems).toMatch(/^syscalls\[3\]\.names:/m);
    // errno 0 skips a call and reports success: only for advice calls, never for setuid
    expect(problems).toMatch(/^syscalls\[4\]\.errnoRet: 0 .*only for advice calls/m);
    expect(problems).toMatch(/^syscalls\[5\]\.names: not a system call on any supported architecture: no_such_call/m);
    expect(problems).toMatch(/^syscalls\[5\]\.errnoRet: only SCMP_ACT_ERRNO/m);
  });

  it('skips names unknown on the architecture with a warning, as Docker does', () => {
    const p = profile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'arch_prctl'], action: 'SCMP_ACT_ALLOW' }] });
    const report = compileSeccompWithReport(p, 'aarch64');
    expect(report.warnings.join('\n')).toMatch(/not system calls on aarch64, skipped: arch_prctl/);
    expect(call(report.filter, 'aarch64', 'read')).toBe(RET_ALLOW);
  });

  it('warns about a rule that can never apply', () => {
    const p = profile({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['ptrace'], action: 'SCMP_ACT_ERRNO' },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    expect(p.warnings.join('\n')).toMatch(/syscalls\[1\]: the rule for ptrace never applies/);
    expect(call(compileSeccomp(p, 'x86_64'), 'x86_64', 'ptrace')).toBe(RET_ERRNO(EPERM));
  });

  it('refuses a profile that excludes the target architecture', () => {
    const p = profile({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_AARCH64'], syscalls: [] });
    expect(() => compileSeccomp(p, 'x86_64')).toThrow(ProfileError);
    expect(call(compileSeccomp(p, 'aarch64'), 'aarch64', 'read')).toBe(RET_ERRNO(EPERM));
  });
});

describe('profiles at startup', () => {
  // Every seccomp profile is validated and compiled when a process decides it can isolate, before
  // any run: a broken one stops the start with its file's name, even if no language uses it yet.
  it('a broken profile stops probeIsolation, naming its file, before anything runs', async () => {
    const { mkdtempSync, cpSync, writeFileSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const { loadConfig } = await import('../../src/config/load.js');
    const { probeIsolation } = await import('../../src/sandbox/host.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'codexec-profiles-'));
    try {
      cpSync(PROFILES_DIR, dir, { recursive: true });
      const broken = path.join(dir, 'seccomp', 'unused-broken.json');
      writeFileSync(broken, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_MAYBE' }] }));
      const err = await probeIsolation(loadConfig({}), dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProfileError);
      expect((err as Error).message).toContain(broken);
      expect(((err as ProfileError).details as { problems: string[] }).problems.join('\n')).toMatch(/^syscalls\[0\]\.action/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
