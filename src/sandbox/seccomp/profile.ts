import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProfileError } from '../../domain/errors.js';
import { SYSCALLS_AARCH64 } from './syscalls-aarch64.js';
import { SYSCALLS_X86_64 } from './syscalls-x86_64.js';

// The subset of Docker's seccomp JSON that codexec compiles (see compile.ts), as a TypeBox schema.
// Anything outside it is rejected rather than ignored: a conditional rule (`includes`/`excludes`),
// an unknown field or an unknown action silently dropped could allow more than the author meant.
// What a schema cannot say (pairings of fields, 64-bit ranges, names no kernel has) is checked
// after it, and every problem of a file is reported at once, with its field.

export const SECCOMP_ACTIONS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_LOG'] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];
export const SECCOMP_OPS = ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ'] as const;
export type SeccompOp = (typeof SECCOMP_OPS)[number];
export const SECCOMP_ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] as const;

export const EPERM = 1;
export const ENOSYS = 38;
const MAX_ERRNO = 4095;
const U64_MAX = (1n << 64n) - 1n;
/**
 * Calls whose only effect is advice to the kernel: a rule may answer them with errnoRet 0, which
 * skips the call and reports success (fadvise64 and readahead act on the page cache of files
 * every execution shares). For anything else a skipped call that claims success would lie to the
 * program (a setuid that "worked"), so errno 0 is refused.
 */
export const ADVICE_CALLS: readonly string[] = ['fadvise64', 'readahead'];

const oneOf = <T extends readonly string[]>(values: T, description: string) => Type.Union(values.map((v) => Type.Literal(v)), { description });
const U64 = Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.String({ pattern: '^(0x[0-9a-fA-F]{1,16}|\\d{1,20})$' })]);
const Action = oneOf(SECCOMP_ACTIONS, 'what the kernel does with a matching call');
const Errno = Type.Integer({ minimum: 0, maximum: MAX_ERRNO });
const EmptyCondition = Type.Unknown({ description: 'only an empty object: conditional rules are not supported' });

const ArgSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0, maximum: 5 }),
    value: U64,
    valueTwo: Type.Optional(U64),
    op: oneOf(SECCOMP_OPS, 'comparison, unsigned 64-bit'),
  },
  { additionalProperties: false },
);

const RuleSchema = Type.Object(
  {
    names: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z_][a-z0-9_]*$' }), { minItems: 1 })),
    name: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]*$' })),
    action: Action,
    errnoRet: Type.Optional(Errno),
    args: Type.Optional(Type.Array(ArgSchema, { maxItems: 6 })),
    comment: Type.Optional(Type.String()),
    includes: Type.Optional(EmptyCondition),
    excludes: Type.Optional(EmptyCondition),
  },
  { additionalProperties: false },
);

export const SeccompProfileSchema = Type.Object(
  {
    comment: Type.Optional(Type.String()),
    defaultAction: Action,
    defaultErrnoRet: Type.Optional(Errno),
    architectures: Type.Optional(Type.Array(oneOf(SECCOMP_ARCHES, 'SCMP_ARCH_* name'))),
    archMap: Type.Optional(Type.Unknown()),
    syscalls: Type.Array(RuleSchema),
  },
  { additionalProperties: false },
);
type ProfileJson = Static<typeof SeccompProfileSchema>;
type RuleJson = Static<typeof RuleSchema>;

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

const checker = TypeCompiler.Compile(SeccompProfileSchema);
const ruleChecker = TypeCompiler.Compile(RuleSchema);

/** Checks a parsed Docker seccomp profile and returns it in normalized form, or throws a ProfileError naming the file. */
export function parseSeccompProfile(raw: unknown, file: string): SeccompProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ProfileError(file, ['the profile must be a JSON object']);
  raw = withoutNullArgs(raw as Record<string, unknown>);
  const problems = [...checker.Errors(raw)].map((e) => `${fieldName(e.path)}: ${friendly(e.path, e.schema, e.message)}`);
  const json = raw as ProfileJson;
  if (json.defaultErrnoRet !== undefined && json.defaultAction !== 'SCMP_ACT_ERRNO') problems.push('defaultErrnoRet: only SCMP_ACT_ERRNO takes an errno');
  if (json.defaultErrnoRet === 0) problems.push('defaultErrnoRet: 0 would report success for every call it denies');
  // Rules the schema accepts get the checks it cannot express; every problem is reported at once.
  const rules = Array.isArray(json.syscalls) ? json.syscalls : [];
  const syscalls = rules.flatMap((r, i) => (ruleChecker.Check(r) ? [normalizeRule(r, `syscalls[${i}]`, problems)] : []));
  if (problems.length > 0) throw new ProfileError(file, dedupe(problems));
  return { file, defaultAction: json.defaultAction as SeccompAction, defaultErrnoRet: json.defaultErrnoRet, architectures: json.architectures ?? [], syscalls, warnings: deadRuleWarnings(syscalls) };
}

// Docker's files write `"args": null` for a rule without comparisons.
function withoutNullArgs(raw: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(raw.syscalls)) return raw;
  const syscalls = raw.syscalls.map((r: unknown) => {
    if (typeof r !== 'object' || r === null || (r as Record<string, unknown>).args !== null) return r;
    const { args: _null, ...rest } = r as Record<string, unknown>;
    return rest;
  });
  return { ...raw, syscalls };
}

function normalizeRule(r: RuleJson, at: string, problems: string[]): SeccompRule {
  for (const key of ['includes', 'excludes'] as const) {
    const v = r[key];
    if (v !== undefined && !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0))
      problems.push(`${at}.${key}: conditional rules are not supported; list only rules that always apply`);
  }
  if (r.names !== undefined && r.name !== undefined) problems.push(`${at}: give either names or name, not both`);
  const names = r.names ?? (r.name === undefined ? [] : [r.name]);
  if (names.length === 0) problems.push(`${at}.names: expected a non-empty array of system call names`);
  const unknown = names.filter((n) => !Object.hasOwn(SYSCALLS_X86_64, n) && !Object.hasOwn(SYSCALLS_AARCH64, n));
  if (unknown.length > 0) problems.push(`${at}.names: not a system call on any supported architecture: ${unknown.join(', ')}`);
  if (r.errnoRet !== undefined && r.action !== 'SCMP_ACT_ERRNO') problems.push(`${at}.errnoRet: only SCMP_ACT_ERRNO takes an errno`);
  if (r.errnoRet === 0 && (names.length === 0 || !names.every((n) => ADVICE_CALLS.includes(n))))
    problems.push(`${at}.errnoRet: 0 (skip the call, report success) only for advice calls (${ADVICE_CALLS.join(', ')})`);
  const args = (r.args ?? []).map((a, j) => {
    const value = u64(a.value, `${at}.args[${j}].value`, problems);
    const valueTwo = a.valueTwo === undefined ? 0n : u64(a.valueTwo, `${at}.args[${j}].valueTwo`, problems);
    if (a.op !== 'SCMP_CMP_MASKED_EQ' && valueTwo !== 0n) problems.push(`${at}.args[${j}].valueTwo: only SCMP_CMP_MASKED_EQ uses valueTwo`);
    return { index: a.index, value, valueTwo, op: a.op as SeccompOp };
  });
  return { names, action: r.action as SeccompAction, errnoRet: r.errnoRet, args };
}

// JSON numbers above 2^53 lose precision when parsed, so large values must be strings.
function u64(raw: number | string, at: string, problems: string[]): bigint {
  const v = BigInt(raw);
  if (v > U64_MAX) problems.push(`${at}: above 2^64-1`);
  return v;
}

const FRIENDLY: [RegExp, string][] = [
  [/\/(default)?[aA]ction$/, `expected one of ${SECCOMP_ACTIONS.join(', ')}`],
  [/\/op$/, `expected one of ${SECCOMP_OPS.join(', ')}`],
  [/\/architectures\/\d+$/, `expected one of ${SECCOMP_ARCHES.join(', ')}`],
  [/\/value(Two)?$/, 'expected an unsigned 64-bit number: a whole number 0..2^53-1, or a string (decimal or 0x...) for larger values'],
  [/\/index$/, 'expected an argument index 0..5'],
  [/[eE]rrnoRet$/, `expected an errno 1..${MAX_ERRNO}`],
];

function friendly(path: string, schema: TSchema, message: string): string {
  if (message.startsWith('Unexpected property')) return 'unknown field';
  for (const [re, text] of FRIENDLY) if (re.test(path)) return text;
  return schema.description ? `${message} (${schema.description})` : message;
}

/** TypeBox's /syscalls/0/args/1/op as syscalls[0].args[1].op. */
function fieldName(path: string): string {
  const name = path
    .split('/')
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
  return name || '/';
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
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
