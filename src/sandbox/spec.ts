import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { ExecutionPlan } from '../domain/plan.js';
import { SandboxSetupError } from '../domain/errors.js';

// One sandbox, declared: everything the launcher and the cgroups enforce for one execution, with
// the unit in each name and a restrictive default for each setting (as nsjail's config.proto does).
// buildSandboxSpec is pure: the stored plan plus this host's settings in, a checked spec out;
// launcher-args.ts turns it into the launcher's options and cgroups/ into a group's limits.

const MiB = 1024 * 1024;

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

/**
 * /proc paths hidden from the program (files read as empty, directories as empty), as container
 * runtimes mask theirs (runc's default maskedPaths), plus what tells about the host or the other
 * executions: the kernel's command line and configuration, its symbols, the disks and their
 * activity, interrupts, memory zones, and every file lock on the host. Paths missing on a host are
 * skipped. What a non-root uid cannot read anyway (kcore, kpage*, slabinfo, ...) needs no mount.
 */
export const MASKED_PATHS = [
  '/proc/cmdline',
  '/proc/config.gz',
  '/proc/bootconfig',
  '/proc/kallsyms',
  '/proc/keys',
  '/proc/key-users',
  '/proc/latency_stats',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/diskstats',
  '/proc/partitions',
  '/proc/swaps',
  '/proc/locks',
  '/proc/interrupts',
  '/proc/softirqs',
  '/proc/iomem',
  '/proc/ioports',
  '/proc/buddyinfo',
  '/proc/zoneinfo',
  '/proc/acpi',
  '/proc/asound',
  '/proc/scsi',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/driver',
] as const;

export const WORKDIR = '/work';

/** The program's environment before the plan's: ours, never the worker's. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: WORKDIR,
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
};

/** A word passed to the launcher is NUL-terminated on the wire: a NUL would split it in two. */
const NO_NUL = '^[^\\u0000]*$';

const Bytes = (description: string, minimum = 0, def?: number) => Type.Integer({ minimum, description, ...(def === undefined ? {} : { default: def }) });

/** Disk I/O of one execution (v2 io.max, v1 blkio throttling) on the devices under its binds. */
export const IoLimitsSchema = Type.Object({
  readBytesPerSecond: Bytes('Disk read bandwidth', 1, 64 * MiB),
  readIops: Type.Integer({ minimum: 1, default: 2000, description: 'Disk read operations per second' }),
  writeBytesPerSecond: Bytes('Disk write bandwidth (the program has no writable disk; page-cache write-back of nothing)', 1, 16 * MiB),
  writeIops: Type.Integer({ minimum: 1, default: 500, description: 'Disk write operations per second' }),
});

export const PhaseSpecSchema = Type.Object({
  name: Type.Union([Type.Literal('compile'), Type.Literal('run')]),
  argv: Type.Array(Type.String({ pattern: NO_NUL, minLength: 1 }), { minItems: 1, maxItems: 64, description: 'The program and its words, passed counted (native/PROTOCOL.md): any text but empty or with a NUL' }),
  wallTimeMs: Type.Integer({ minimum: 1, description: 'Wall-clock limit, enforced by init' }),
  cpuTimeMs: Type.Integer({ minimum: 1, description: 'CPU limit: RLIMIT_CPU per process, the group total checked after' }),
  memoryBytes: Bytes('cgroup memory limit, no swap', 4 * MiB),
  processes: Type.Integer({ minimum: 1, description: 'cgroup pids.max: processes and threads' }),
  cpuQuotaPercent: Type.Integer({ minimum: 1, maximum: 100_000, default: 100, description: 'CPU bandwidth in percent of one CPU (cpu.max)' }),
  stdoutBytes: Bytes('stdout kept (the rest is counted, flagged and, far past it, killed)'),
  stderrBytes: Bytes('stderr kept, as stdout'),
  fileSizeBytes: Bytes('RLIMIT_FSIZE: largest file the program may write'),
  openFiles: Type.Integer({ minimum: 16, maximum: 65536, default: 64, description: 'RLIMIT_NOFILE' }),
  stackBytes: Bytes('RLIMIT_STACK', 64 * 1024, 8 * MiB),
  stdinNull: Type.Boolean({ default: true, description: 'stdin is /dev/null (else the request\'s stdin)' }),
  mergedOutput: Type.Boolean({ default: false, description: 'stdout and stderr go to the compile-output descriptor, merged' }),
});
export type PhaseSpec = Static<typeof PhaseSpecSchema>;

export const SandboxSpecSchema = Type.Object({
  hostname: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', default: 'codexec' }),
  workdir: Type.Literal(WORKDIR, { default: WORKDIR }),
  workdirBytes: Bytes('Size of the working directory (a tmpfs)', MiB),
  tmpBytes: Bytes('Size of /tmp (a tmpfs)', MiB),
  binds: Type.Array(Type.String({ pattern: '^/[^\\0]*$' }), { default: [...BASE_BINDS], description: 'Host paths bound read-only at the same place' }),
  maskedPaths: Type.Array(Type.String({ pattern: '^/proc/[a-z0-9_.-]+$' }), { default: [...MASKED_PATHS] }),
  env: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String({ pattern: NO_NUL }), { additionalProperties: false, default: { ...BASE_ENV } }),
  niceValue: Type.Integer({ minimum: 0, maximum: 19, default: 10, description: 'Nice value of every program: the API wins the CPU' }),
  seccomp: Type.Boolean({ default: true, description: 'Install the seccomp filter (false only in tests of the launcher itself)' }),
  exportMaxBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { default: null, description: 'null: no export; else the working directory comes back, at most this many bytes' }),
  io: IoLimitsSchema,
  phases: Type.Array(PhaseSpecSchema, { minItems: 1, maxItems: 2 }),
});
export type SandboxSpec = Static<typeof SandboxSpecSchema>;

/** A host's settings that shape every spec; each has the schema's default when absent. */
export interface SandboxSettings {
  niceValue?: number;
  stackBytes?: number;
  cpuQuotaPercent?: number;
  maskedPaths?: string[];
  io?: Partial<Static<typeof IoLimitsSchema>>;
}

const checker = TypeCompiler.Compile(SandboxSpecSchema);

// The schemas' defaults, taken once: Value.Default walks a schema on every call, ~0.2 ms per
// spec, on every execution's path. Only settings a spec leaves out take them (buildSandboxSpec).
const SPEC_DEFAULTS = Object.freeze(Value.Default(SandboxSpecSchema, {}) as Partial<SandboxSpec>);
const IO_DEFAULTS = Object.freeze(Value.Default(IoLimitsSchema, {}) as SandboxSpec['io']);
const PHASE_DEFAULTS = Object.freeze(Value.Default(PhaseSpecSchema, {}) as Partial<PhaseSpec>);

/**
 * The part of the root every execution of a host shares: the binds and masks each spec begins
 * with, in this order. A fork server's standby builds it before a request comes (native/mounts.c,
 * prebuild_root) and refuses a request whose binds or masks do not begin with it.
 */
export interface SharedRoot {
  binds: string[];
  maskedPaths: string[];
}

export function sharedRoot(settings: SandboxSettings = {}): SharedRoot {
  return { binds: [...BASE_BINDS], maskedPaths: [...(settings.maskedPaths ?? MASKED_PATHS)] };
}

export interface SpecInput {
  plan: Pick<ExecutionPlan, 'compile' | 'run' | 'env' | 'binds'>;
  phases: ('compile' | 'run')[];
  exportWorkdir: boolean;
}

/** The sandbox of one request: the plan's phases, limits, env and binds on this host's settings. */
export function buildSandboxSpec(input: SpecInput, settings: SandboxSettings = {}): SandboxSpec {
  const { plan } = input;
  const phases = input.phases.map((name) => {
    const phase = name === 'compile' ? plan.compile : plan.run;
    if (!phase) throw new SandboxSetupError('spec', `the plan has no ${name} phase`);
    const l = phase.limits;
    return {
      name,
      argv: phase.argv,
      wallTimeMs: l.wallTimeMs,
      cpuTimeMs: l.cpuTimeMs,
      memoryBytes: l.memoryBytes,
      processes: l.processes,
      cpuQuotaPercent: settings.cpuQuotaPercent,
      stdoutBytes: l.stdoutBytes,
      stderrBytes: l.stderrBytes,
      fileSizeBytes: l.fileSizeBytes,
      openFiles: l.openFiles,
      stackBytes: settings.stackBytes,
      stdinNull: name === 'compile',
      mergedOutput: name === 'compile',
    };
  });
  // The run's tmpfs sizes apply to every sandbox of an execution, so that what a compile sandbox
  // exports always fits the run sandboxes it is copied into.
  const tmpfsBytes = plan.run.limits.tmpfsBytes;
  const root = sharedRoot(settings);
  const spec = {
    ...SPEC_DEFAULTS,
    ...withoutUndefined({
      workdirBytes: tmpfsBytes,
      tmpBytes: tmpfsBytes,
      binds: dedupe([...root.binds, ...plan.binds]),
      maskedPaths: root.maskedPaths,
      env: { ...BASE_ENV, ...plan.env },
      niceValue: settings.niceValue,
      exportMaxBytes: input.exportWorkdir ? tmpfsBytes : null,
    }),
    io: { ...IO_DEFAULTS, ...withoutUndefined({ ...settings.io }) },
    phases: phases.map((p) => ({ ...PHASE_DEFAULTS, ...withoutUndefined(p) })),
  };
  return checkSpec(spec);
}

/** The spec, checked against the schema; every problem is named at once. */
export function checkSpec(spec: unknown): SandboxSpec {
  if (checker.Check(spec)) return spec;
  const problems = [...checker.Errors(spec)].map((e) => `${e.path || '/'}: ${e.message}`);
  throw new SandboxSetupError('spec', problems.join('; '));
}

function dedupe(paths: string[]): string[] {
  return [...new Set(paths)];
}

// Value.Default fills only absent properties: an explicit undefined must not hide a default.
function withoutUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
