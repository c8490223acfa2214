import { ProfileError } from '../../domain/errors.js';
import { ENOSYS, EPERM, type SeccompAction, type SeccompArgRule, type SeccompProfile, type SeccompRule } from './profile.js';
import { SYSCALLS_AARCH64 } from './syscalls-aarch64.js';
import { SYSCALLS_X86_64 } from './syscalls-x86_64.js';

// Compiles a seccomp profile into a classic BPF program: the bytes of an array of struct
// sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in little-endian order, ready for
// seccomp(SECCOMP_SET_MODE_FILTER) in the launcher. No libseccomp is involved.
//
// Layout of the program:
//   load arch; anything but the target architecture -> KILL_PROCESS (an i386 `int 0x80` call
//     from an x86_64 process would otherwise be looked up in the wrong table)
//   load nr; x86_64 only: x32 calls (nr & 0x40000000) -> KILL_PROCESS
//   allow-list profiles only: nr above the table's highest -> ERRNO(ENOSYS), like runc, so a libc
//     that tries a newer call first (fchmodat2, ...) falls back instead of failing with EPERM
//   the call numbers cut into intervals, each one call whose action depends on its arguments (its
//     block: the rules in file order, the first match's action, else the default action) or a
//     run of consecutive numbers with one fixed action (RET); a binary search of JGE over the
//     intervals' first numbers reaches the interval of A
// The search matters at load time, not per call: since Linux 5.11 the kernel evaluates the filter
// once per call number when it is attached and then skips it entirely for calls it always allows
// without looking at arguments (seccomp's action cache). With one JEQ per listed call that
// evaluation walked ~300 comparisons for each of ~450 numbers: 365 µs of CPU charged to every run,
// 77 µs now (bench/seccomp-attach.mjs); the search takes ~8 per number, and merging runs of equal actions
// keeps the program short (the kernel also checks and translates every instruction). The cache
// still applies because the program uses only the instructions it understands (LD nr/arch,
// JEQ/JGT/JGE/JSET K, JA, AND K, RET K) and loads arguments only inside a call's own block.

export type SeccompArch = 'x86_64' | 'aarch64';

interface ArchInfo {
  auditArch: number;
  scmpName: string;
  table: Readonly<Record<string, number>>;
  x32Bit: boolean;
}

const ARCHES: Record<SeccompArch, ArchInfo> = {
  x86_64: { auditArch: 0xc000003e, scmpName: 'SCMP_ARCH_X86_64', table: SYSCALLS_X86_64, x32Bit: true },
  aarch64: { auditArch: 0xc00000b7, scmpName: 'SCMP_ARCH_AARCH64', table: SYSCALLS_AARCH64, x32Bit: false },
};

const COMPAT_ARCHES = ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM'];

export function syscallTable(arch: SeccompArch): Readonly<Record<string, number>> {
  return ARCHES[arch].table;
}

// seccomp return values (linux/seccomp.h).
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const ALU_AND_K = 0x54;
const RET_K = 0x06;

const BPF_MAXINSNS = 4096;
const X32_SYSCALL_BIT = 0x40000000;
// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i; // both targets are little-endian
const argHigh = (i: number) => 16 + 8 * i + 4;

export interface CompileResult {
  filter: Buffer;
  instructionCount: number;
  /** Names skipped because they are not system calls on this architecture, and similar notes. */
  warnings: string[];
}

/** Compiles `profile` for `arch`; returns the sock_filter bytes. */
export function compileSeccomp(profile: SeccompProfile, arch: SeccompArch): Buffer {
  return compileSeccompWithReport(profile, arch).filter;
}

export function compileSeccompWithReport(profile: SeccompProfile, arch: SeccompArch): CompileResult {
  const info = ARCHES[arch];
  const warnings = [...profile.warnings];
  if (profile.architectures.length > 0 && !profile.architectures.includes(info.scmpName))
    throw new ProfileError(profile.file, [`architectures: does not list ${info.scmpName}, the architecture of this host`]);
  // Docker lists the 32-bit ABIs a 64-bit process may use; here they are always killed.
  const compat = profile.architectures.filter((a) => COMPAT_ARCHES.includes(a));
  if (compat.length > 0) warnings.push(`architectures: ${compat.join(', ')} ignored: calls from any architecture but ${info.scmpName} are killed`);

  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const { groups, unknown } = groupByNumber(profile.syscalls, info.table);
  if (unknown.length > 0) warnings.push(`not system calls on ${arch}, skipped: ${unknown.join(', ')}`);

  const asm = new Assembler();
  asm.ld(OFF_ARCH);
  asm.jump(JMP_JEQ_K, info.auditArch, 1, 0);
  asm.ret(SECCOMP_RET.KILL_PROCESS);
  asm.ld(OFF_NR);
  if (info.x32Bit) {
    asm.jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1);
    asm.ret(SECCOMP_RET.KILL_PROCESS);
  }
  if (profile.defaultAction === 'SCMP_ACT_ERRNO') {
    asm.jump(JMP_JGT_K, Math.max(...Object.values(info.table)), 0, 1);
    asm.ret(SECCOMP_RET.ERRNO | ENOSYS);
  }
  asm.append(search(intervals(groups, defaultRet)));

  if (asm.length > BPF_MAXINSNS)
    throw new ProfileError(profile.file, [`compiles to ${asm.length} BPF instructions for ${arch}; the kernel accepts at most ${BPF_MAXINSNS}`]);
  return { filter: asm.toBuffer(), instructionCount: asm.length, warnings };
}

// From `first` up to the next interval's first number, calls get `code`: a fixed action (a RET
// value) or the block of one call that looks at its arguments.
interface Interval {
  first: number;
  code: number | Assembler;
}

// Cuts the number line [0, inf) into intervals, in order; the first starts at 0.
function intervals(groups: [number, SeccompRule[]][], defaultRet: number): Interval[] {
  const out: Interval[] = [];
  let next = 0; // the first number no interval covers yet
  const push = (first: number, code: number | Assembler) => {
    if (typeof code === 'number' && out.at(-1)?.code === code) return; // extends the run
    out.push({ first, code });
  };
  for (const [nr, rules] of groups) {
    if (nr > next) push(next, defaultRet); // a gap: calls without rules
    push(nr, callCode(rules, defaultRet));
    next = nr + 1;
  }
  push(next, defaultRet);
  return out;
}

// Entered with the call number in A; every path ends in a RET.
function search(list: Interval[]): Assembler {
  const out = new Assembler();
  if (list.length === 1) {
    const { code } = list[0];
    if (typeof code === 'number') out.ret(code);
    else out.append(code);
    return out;
  }
  const half = list.length >> 1;
  const low = search(list.slice(0, half));
  const high = search(list.slice(half));
  // A >= the first number of the upper half: over the lower half; otherwise into it.
  if (low.length <= 255) {
    out.jump(JMP_JGE_K, list[half].first, low.length, 0);
  } else {
    // Too far for an 8-bit skip: jump over it with JA, whose offset is 32-bit.
    out.jump(JMP_JGE_K, list[half].first, 0, 1);
    out.emit(JMP_JA, 0, 0, low.length);
  }
  out.append(low);
  out.append(high);
  return out;
}

function actionValue(action: SeccompAction, errnoRet: number | undefined): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET.ALLOW;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET.ERRNO | (errnoRet ?? EPERM)) >>> 0;
    // libseccomp's SCMP_ACT_KILL kills only the calling thread; here it kills the process, because
    // a process with one thread gone usually hangs until the wall-time limit instead of failing.
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET.KILL_PROCESS;
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET.LOG;
  }
}

function groupByNumber(rules: SeccompRule[], table: Readonly<Record<string, number>>) {
  const groups = new Map<number, SeccompRule[]>();
  const unknown = new Set<string>();
  for (const rule of rules) {
    for (const name of rule.names) {
      const nr = Object.hasOwn(table, name) ? table[name] : undefined;
      if (nr === undefined) {
        unknown.add(name);
        continue;
      }
      const list = groups.get(nr) ?? [];
      list.push(rule);
      groups.set(nr, list);
    }
  }
  return { groups: [...groups.entries()].sort((a, b) => a[0] - b[0]), unknown: [...unknown] };
}

// What one call number gets: a fixed RET value when its rules do not look at arguments (or none
// applies), else its block, entered with the number in A, which tests each rule's comparisons,
// falling through to the next rule on a mismatch, and returns the first match's action.
function callCode(rules: SeccompRule[], defaultRet: number): number | Assembler {
  if (rules.every((r) => actionValue(r.action, r.errnoRet) === defaultRet)) return defaultRet;
  if (rules[0].args.length === 0) return actionValue(rules[0].action, rules[0].errnoRet);
  const block = new Assembler();
  let decided = false;
  for (const rule of rules) {
    const ret = actionValue(rule.action, rule.errnoRet);
    if (rule.args.length === 0) {
      block.ret(ret);
      decided = true;
      break; // later rules for this call are dead (the validator warns)
    }
    const nextRule = block.label();
    for (const arg of rule.args) emitComparison(block, arg, nextRule);
    block.ret(ret);
    block.place(nextRule);
  }
  if (!decided) block.ret(defaultRet);
  return block;
}

// Falls through when `arg` holds, jumps to `fail` otherwise. 64-bit values are compared as two
// 32-bit halves, high half first, all unsigned (as libseccomp does).
function emitComparison(asm: Assembler, arg: SeccompArgRule, fail: Label): void {
  const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const pass = asm.label();
  const { index, value } = arg;
  switch (arg.op) {
    case 'SCMP_CMP_EQ':
      asm.ld(argHigh(index));
      asm.jumpTo(JMP_JEQ_K, hi(value), null, fail);
      asm.ld(argLow(index));
      asm.jumpTo(JMP_JEQ_K, lo(value), null, fail);
      break;
    case 'SCMP_CMP_NE':
      asm.ld(argHigh(index));
      asm.jumpTo(JMP_JEQ_K, hi(value), null, pass);
      asm.ld(argLow(index));
      asm.jumpTo(JMP_JEQ_K, lo(value), fail, null);
      break;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE':
      asm.ld(argHigh(index));
      asm.jumpTo(JMP_JGT_K, hi(value), pass, null);
      asm.jumpTo(JMP_JEQ_K, hi(value), null, fail);
      asm.ld(argLow(index));
      asm.jumpTo(arg.op === 'SCMP_CMP_GT' ? JMP_JGT_K : JMP_JGE_K, lo(value), null, fail);
      break;
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE':
      asm.ld(argHigh(index));
      asm.jumpTo(JMP_JGE_K, hi(value), null, pass); // high half below: less
      asm.jumpTo(JMP_JEQ_K, hi(value), null, fail); // high half above: not less
      asm.ld(argLow(index));
      asm.jumpTo(arg.op === 'SCMP_CMP_LT' ? JMP_JGE_K : JMP_JGT_K, lo(value), fail, null);
      break;
    case 'SCMP_CMP_MASKED_EQ': {
      const mask = value;
      const want = arg.valueTwo;
      asm.ld(argHigh(index));
      asm.emit(ALU_AND_K, 0, 0, hi(mask));
      asm.jumpTo(JMP_JEQ_K, hi(want), null, fail);
      asm.ld(argLow(index));
      asm.emit(ALU_AND_K, 0, 0, lo(mask));
      asm.jumpTo(JMP_JEQ_K, lo(want), null, fail);
      break;
    }
  }
  asm.place(pass);
}

// A minimal assembler: forward jumps to labels are resolved when the block is finished.
interface Label {
  at: number;
}
interface Insn {
  code: number;
  jt: number | Label;
  jf: number | Label;
  k: number;
}

class Assembler {
  private readonly insns: Insn[] = [];

  get length(): number {
    return this.insns.length;
  }
  emit(code: number, jt: number, jf: number, k: number): void {
    this.insns.push({ code, jt, jf, k: k >>> 0 });
  }
  ld(offset: number): void {
    this.emit(LD_W_ABS, 0, 0, offset);
  }
  ret(value: number): void {
    this.emit(RET_K, 0, 0, value);
  }
  jump(code: number, k: number, jt: number, jf: number): void {
    this.emit(code, jt, jf, k);
  }
  /** A conditional jump whose targets are labels; null means the next instruction. */
  jumpTo(code: number, k: number, jt: Label | null, jf: Label | null): void {
    this.insns.push({ code, jt: jt ?? 0, jf: jf ?? 0, k: k >>> 0 });
  }
  label(): Label {
    return { at: -1 };
  }
  place(label: Label): void {
    label.at = this.insns.length;
  }
  /** Appends a finished block; its jumps are relative, so they stay valid. */
  append(other: Assembler): void {
    this.insns.push(...other.resolved());
  }
  private resolved(): { code: number; jt: number; jf: number; k: number }[] {
    return this.insns.map((insn, i) => ({
      code: insn.code,
      k: insn.k,
      jt: offset(insn.jt, i),
      jf: offset(insn.jf, i),
    }));
  }
  toBuffer(): Buffer {
    const out = Buffer.alloc(this.insns.length * 8);
    this.resolved().forEach((insn, i) => {
      out.writeUInt16LE(insn.code, i * 8);
      out.writeUInt8(insn.jt, i * 8 + 2);
      out.writeUInt8(insn.jf, i * 8 + 3);
      out.writeUInt32LE(insn.k, i * 8 + 4);
    });
    return out;
  }
}

function offset(target: number | Label, from: number): number {
  if (typeof target === 'number') return target;
  const rel = target.at - (from + 1);
  if (target.at < 0 || rel < 0 || rel > 255) throw new Error(`BPF jump out of range (${rel}): compiler bug`);
  return rel;
}
