import { ProfileError } from '../../domain/errors.js';

// The subset of Docker's seccomp JSON that codexec compiles (see compile.ts). Anything outside it
// is rejected rather than ignored: a conditional rule (`includes`/`excludes`) or an unknown action
// silently dropped could allow more than the author meant.

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPS = [
  'SCMP_CMP_EQ',
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_GT',
  'SCMP_CMP_GE',
  'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOp = (typeof SECCOMP_OPS)[number];

export const SECCOMP_ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] as const;

/** One comparison of a system call argument. Values are unsigned 64-bit. */
export interface SeccompArgRule {
  index: number;
  /** For MASKED_EQ: the mask. Otherwise: the value compared with. */
  value: bigint;
  /** For MASKED_EQ: the value the masked argument must equal. Unused otherwise. */
  valueTwo: bigint;
  op: SeccompOp;
}

export interface SeccompRule {
  names: string[];
  action: SeccompAction;
  /** Only for SCMP_ACT_ERRNO; EPERM when absent. */
  errnoRet?: number;
  /** All must hold (AND). Rules for one system call are tried in file order; the first match wins. */
  args: SeccompArgRule[];
}

export interface SeccompProfile {
  /** Where it was read from, for messages. */
  file: string;
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SeccompRule[];
  /** Valid but doubtful content (rules that can never match). */
  warnings: string[];
}

export const EPERM = 1;
export const ENOSYS = 38;
const MAX_ERRNO = 4095;
const U64_MAX = (1n << 64n) - 1n;
const TOP_KEYS = new Set(['defaultAction', 'defaultErrnoRet', 'architectures', 'archMap', 'syscalls', 'comment']);
const RULE_KEYS = new Set(['names', 'name', 'action', 'errnoRet', 'args', 'comment', 'includes', 'excludes']);
const ARG_KEYS = new Set(['index', 'value', 'valueTwo', 'op']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a parsed Docker seccomp profile and returns it in normalized form. Every problem is
 * collected and thrown at once as a ProfileError naming the file and the field.
 */
export function parseSeccompProfile(raw: unknown, file: string): SeccompProfile {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!isObject(raw)) throw new ProfileError(file, ['the profile must be a JSON object']);

  for (const key of Object.keys(raw)) {
    if (!TOP_KEYS.has(key)) problems.push(`${key}: unknown field (supported: ${[...TOP_KEYS].join(', ')})`);
  }
  const defaultAction = parseAction(raw.defaultAction, 'defaultAction', problems);
  const defaultErrnoRet = parseErrno(raw.defaultErrnoRet, 'defaultErrnoRet', defaultAction, problems);

  const architectures: string[] = [];
  if (raw.architectures !== undefined) {
    if (!Array.isArray(raw.architectures)) problems.push('architectures: expected an array of SCMP_ARCH_* names');
    else
      raw.architectures.forEach((a, i) => {
        if (typeof a !== 'string' || !(SECCOMP_ARCHES as readonly string[]).includes(a))
          problems.push(`architectures[${i}]: expected one of ${SECCOMP_ARCHES.join(', ')}, got ${JSON.stringify(a)}`);
        else architectures.push(a);
      });
  }

  const syscalls: SeccompRule[] = [];
  if (!Array.isArray(raw.syscalls)) problems.push('syscalls: expected an array of rules');
  else raw.syscalls.forEach((r, i) => {
    const rule = parseRule(r, `syscalls[${i}]`, problems);
    if (rule) syscalls.push(rule);
  });

  if (problems.length > 0) throw new ProfileError(file, problems);
  warnings.push(...deadRuleWarnings(syscalls));
  return { file, defaultAction: defaultAction!, defaultErrnoRet, architectures, syscalls, warnings };
}

function parseRule(raw: unknown, at: string, problems: string[]): SeccompRule | null {
  if (!isObject(raw)) {
    problems.push(`${at}: expected an object`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!RULE_KEYS.has(key)) problems.push(`${at}.${key}: unknown field`);
  }
  for (const key of ['includes', 'excludes'] as const) {
    if (raw[key] !== undefined && !(isObject(raw[key]) && Object.keys(raw[key] as object).length === 0))
      problems.push(`${at}.${key}: conditional rules are not supported; list only rules that always apply`);
  }
  let names: string[] = [];
  if (raw.names !== undefined && raw.name !== undefined) problems.push(`${at}: give either names or name, not both`);
  const rawNames = raw.names ?? (raw.name === undefined ? undefined : [raw.name]);
  if (!Array.isArray(rawNames) || rawNames.length === 0) problems.push(`${at}.names: expected a non-empty array of system call names`);
  else {
    rawNames.forEach((n, j) => {
      if (typeof n !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(n)) problems.push(`${at}.names[${j}]: not a system call name: ${JSON.stringify(n)}`);
    });
    names = rawNames as string[];
  }
  const action = parseAction(raw.action, `${at}.action`, problems);
  const errnoRet = parseErrno(raw.errnoRet, `${at}.errnoRet`, action, problems);
  const args: SeccompArgRule[] = [];
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args)) problems.push(`${at}.args: expected an array`);
    else if (raw.args.length > 6) problems.push(`${at}.args: at most 6 comparisons per rule`);
    else raw.args.forEach((a, j) => {
      const arg = parseArg(a, `${at}.args[${j}]`, problems);
      if (arg) args.push(arg);
    });
  }
  if (problems.length > before) return null;
  return { names, action: action!, errnoRet, args };
}

function parseArg(raw: unknown, at: string, problems: string[]): SeccompArgRule | null {
  if (!isObject(raw)) {
    problems.push(`${at}: expected an object`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!ARG_KEYS.has(key)) problems.push(`${at}.${key}: unknown field`);
  }
  const index = raw.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5)
    problems.push(`${at}.index: expected an argument index 0..5, got ${JSON.stringify(index)}`);
  const op = raw.op;
  if (typeof op !== 'string' || !(SECCOMP_OPS as readonly string[]).includes(op))
    problems.push(`${at}.op: expected one of ${SECCOMP_OPS.join(', ')}, got ${JSON.stringify(op)}`);
  const value = parseU64(raw.value, `${at}.value`, problems);
  const valueTwo = raw.valueTwo === undefined ? 0n : parseU64(raw.valueTwo, `${at}.valueTwo`, problems);
  if (op !== 'SCMP_CMP_MASKED_EQ' && valueTwo !== null && valueTwo !== 0n)
    problems.push(`${at}.valueTwo: only SCMP_CMP_MASKED_EQ uses valueTwo`);
  if (problems.length > before) return null;
  return { index: index as number, value: value!, valueTwo: valueTwo!, op: op as SeccompOp };
}

// JSON numbers above 2^53 lose precision when parsed, so large values must be strings
// ("0xffffffffffffffff" or decimal); Docker's own files only use small numbers.
function parseU64(raw: unknown, at: string, problems: string[]): bigint | null {
  if (typeof raw === 'number') {
    if (Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
    problems.push(`${at}: expected a whole number 0..2^53-1 (write larger values as a string), got ${raw}`);
    return null;
  }
  if (typeof raw === 'string' && /^(0x[0-9a-fA-F]{1,16}|\d{1,20})$/.test(raw)) {
    const v = BigInt(raw);
    if (v <= U64_MAX) return v;
  }
  problems.push(`${at}: expected an unsigned 64-bit number, got ${JSON.stringify(raw)}`);
  return null;
}

function parseAction(raw: unknown, at: string, problems: string[]): SeccompAction | null {
  if (typeof raw === 'string' && (SECCOMP_ACTIONS as readonly string[]).includes(raw)) return raw as SeccompAction;
  problems.push(`${at}: expected one of ${SECCOMP_ACTIONS.join(', ')}, got ${JSON.stringify(raw)}`);
  return null;
}

// errno 0 would make a denied call look successful without running it: not allowed here.
function parseErrno(raw: unknown, at: string, action: SeccompAction | null, problems: string[]): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_ERRNO) {
    problems.push(`${at}: expected an errno 1..${MAX_ERRNO}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  if (action !== null && action !== 'SCMP_ACT_ERRNO') problems.push(`${at}: only SCMP_ACT_ERRNO takes an errno`);
  return raw;
}

// A rule after an unconditional rule for the same call can never match.
function deadRuleWarnings(rules: SeccompRule[]): string[] {
  const unconditional = new Map<string, number>();
  const out: string[] = [];
  rules.forEach((rule, i) => {
    for (const name of rule.names) {
      const first = unconditional.get(name);
      if (first !== undefined) out.push(`syscalls[${i}]: the rule for ${name} never applies: syscalls[${first}] already decides every ${name} call`);
      else if (rule.args.length === 0) unconditional.set(name, i);
    }
  });
  return out;
}
