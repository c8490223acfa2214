import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { RunOutcome } from '../../src/domain/execution.js';
import { clampLimits, type LimitOverrides, type Limits } from '../../src/domain/limits.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import type { LanguageProfile } from '../../src/languages/profile.js';
import { detectCgroups, releaseWorkerDir } from '../../src/sandbox/cgroups/index.js';
import { openSandboxHost, probeIsolation, type SandboxHostSettings } from '../../src/sandbox/host.js';
import { runInSandbox, runSandbox, type SandboxFile, type SandboxHost, type SandboxRequest, type SandboxResult } from '../../src/sandbox/run.js';
import { PLAN_VERSION, type ExecutionPlan } from '../../src/domain/plan.js';
import { fillPlaceholders } from '../../src/languages/placeholders.js';

// Shared by every attack file: one real sandbox host per test file (the cgroup worker directory
// is per process), programs run exactly as the executor runs them (profile from the registry,
// limits clamped from the profile's defaults), and a factor that stretches wall limits on slow
// machines (the qemu TCG VM runs code several times slower).

export const IS_ROOT = typeof process.geteuid === 'function' && process.geteuid() === 0;
export const SKIP_MESSAGE = 'the attack suite needs root (namespaces, cgroups and the uid drop): skipped';
if (!IS_ROOT) console.warn(`test/security: ${SKIP_MESSAGE}`);

export type Lang = 'python' | 'javascript' | 'c';

export interface SecurityEnv {
  host: SandboxHost;
  settings: SandboxHostSettings;
  registry: LanguageRegistry;
  /** Multiplies wall-clock limits and waits: 1 here, more on slow hosts. */
  slow: number;
  close(): Promise<void>;
}

/** Opens the real sandbox host the worker would open (throws when the host cannot isolate). */
export async function openSecurityEnv(): Promise<SecurityEnv> {
  const config = loadConfig({});
  const { settings, report } = await probeIsolation(config, defaultProfilesDir());
  if (report.level !== 'full') throw new Error(`the sandbox cannot isolate here: ${report.problems.join('; ')}`);
  const host = await openSandboxHost(settings);
  const registry = await LanguageRegistry.load(defaultProfilesDir(), config, { probeVersions: false });
  if (slowFactor() > 1) console.info(`test/security: slow host, wall limits and test timeouts x${slowFactor()}`);
  return {
    host,
    settings,
    registry,
    slow: slowFactor(),
    async close() {
      await host.close();
      // The worker directory this process made under the cgroup parent goes too: the host is left as it was.
      await releaseWorkerDir(detectCgroups({ parent: settings.cgroupParent }));
    },
  };
}

let cachedSlow: number | null = null;

/**
 * How much slower than an ordinary machine this host runs programs: the time the host's python3
 * takes to start, against at most ~250 ms on an ordinary (even busy) machine. CODEXEC_SLOW=N (a
 * number, 2 or more) forces the factor; any other value ("1", "true") means "slow host": at least
 * 4. (loadConfig rejects unknown CODEXEC_* variables, but these tests call loadConfig({}), never
 * with process.env.)
 */
export function slowFactor(): number {
  if (cachedSlow !== null) return cachedSlow;
  const raw = process.env.CODEXEC_SLOW?.trim();
  const forced = Number(raw);
  if (raw && Number.isFinite(forced) && forced >= 2) return (cachedSlow = Math.min(forced, 20));
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    try {
      execFileSync('/usr/bin/python3', ['-I', '-c', 'pass'], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      break;
    }
    best = Math.min(best, performance.now() - t0);
  }
  const measured = Number.isFinite(best) ? Math.min(10, Math.max(1, Math.ceil(best / 250))) : 1;
  return (cachedSlow = raw ? Math.max(4, measured) : measured);
}

export interface RunOptions {
  stdin?: string;
  /** What a client may override (clamped to the profile's maximum, as the executor does). */
  overrides?: LimitOverrides;
  /** Direct changes after clamping, for limits a client cannot set (processes, output, tmpfs). */
  limits?: Partial<Limits>;
  executionId?: string;
}

export interface RunResult {
  outcome: RunOutcome;
  /** Wall-clock time of the whole runInSandbox call, as the worker sees it. */
  elapsedMs: number;
  executionId: string;
  limits: Limits;
}

export function profileOf(env: SecurityEnv, lang: Lang): LanguageProfile {
  return env.registry.resolve(lang);
}

/** Runs `source` in a fresh sandbox, exactly as the executor does. */
export async function runProgram(env: SecurityEnv, lang: Lang, source: string, opts: RunOptions = {}): Promise<RunResult> {
  const profile = profileOf(env, lang);
  const limits = { ...clampLimits(profile.limits.default, profile.limits.maximum, opts.overrides ?? {}), ...opts.limits };
  const executionId = opts.executionId ?? `sec-${randomUUID()}`;
  const t0 = performance.now();
  const outcome = await runInSandbox(env.host, {
    executionId,
    profile,
    sourceCode: source,
    stdin: opts.stdin ?? '',
    runLimits: limits,
    compileLimits: null,
  });
  return { outcome, elapsedMs: performance.now() - t0, executionId, limits };
}

/** The JSON object a probe program printed as its last stdout line (with the outcome in the error). */
export function reportOf(outcome: RunOutcome): Record<string, unknown> {
  const lines = outcome.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`the program printed no JSON report; outcome: ${describeOutcome(outcome)}`);
  }
}

export function describeOutcome(o: RunOutcome): string {
  return JSON.stringify({
    kind: o.kind,
    exitCode: o.exitCode,
    signal: o.signal,
    step: o.sandboxErrorStep,
    message: o.message,
    ms: o.executionTimeMs,
    stdout: o.stdout.slice(0, 1500),
    stderr: o.stderr.slice(0, 1500),
  });
}

/**
 * Python prelude for probes: `sc(nr, *args)` makes a raw system call through libc and returns
 * 'ok' or the errno's name; `attempt(fn)` runs fn and returns 'ok' or the OSError's errno name;
 * `out` is the report printed as JSON at exit. x86_64 numbers below (the suite's probes that need
 * raw numbers are skipped on other architectures).
 */
export const PY_PRELUDE = String.raw`
import atexit, ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
def ename(e):
    return errno.errorcode.get(e, str(e))
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return 'ok' if r >= 0 else ename(ctypes.get_errno())
def attempt(fn):
    try:
        r = fn()
        return 'ok' if r is None else r
    except OSError as e:
        return ename(e.errno) if e.errno else type(e).__name__
def report():
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()
`;

/** Runs `body` after the prelude and prints `out` at the end. */
export function py(body: string): string {
  return `${PY_PRELUDE}\n${body}\nreport()\n`;
}

export const IS_X86_64 = process.arch === 'x64';

/** A temporary directory on the host that the test removes itself (tracked for the /tmp check). */
export function makeHostTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `codexec-sec-${prefix}-`));
}

/** Polls `check` until it returns true or `ms` passes. */
export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The plan the executor would store for `lang` (limits clamped from the profile's defaults, as runProgram does). */
export function planOf(env: SecurityEnv, lang: Lang, opts: { limits?: Partial<Limits>; runArgv?: string[] } = {}): ExecutionPlan {
  const profile = profileOf(env, lang);
  const limits = { ...clampLimits(profile.limits.default, profile.limits.maximum), ...opts.limits };
  const compileLimits = profile.compile ? { ...profile.compile.limits, tmpfsBytes: limits.tmpfsBytes } : null;
  const fill = (argv: string[], l: Limits) => fillPlaceholders(argv, { limits: l, sourceFile: profile.sourceFile, mainClass: profile.sourceFile.replace(/\.[^.]+$/, '') });
  return {
    version: PLAN_VERSION,
    language: { id: profile.id, name: profile.name, version: profile.version, profileDigest: '' },
    sourceFile: profile.sourceFile,
    compile: profile.compile && compileLimits ? { argv: fill(profile.compile.argv, compileLimits), limits: compileLimits } : null,
    run: { argv: opts.runArgv ?? fill(profile.run.argv, limits), limits },
    env: profile.env,
    binds: profile.binds,
    seccomp: { name: profile.seccomp, digest: '' },
    stdin: '',
    expectedOutput: null,
    testCases: null,
    comparison: 'trailing_whitespace',
  };
}

export const file = (p: string, content: string | Buffer, executable = false): SandboxFile => ({ path: p, content: Buffer.isBuffer(content) ? content : Buffer.from(content), executable });

/** runSandbox with a fresh execution id and a run phase only, unless the request says otherwise. */
export function sandbox(env: SecurityEnv, req: Partial<SandboxRequest> & Pick<SandboxRequest, 'plan' | 'files'>): Promise<SandboxResult> {
  return runSandbox(env.host, { executionId: `sec-${randomUUID()}`, phases: ['run'], stdin: '', ...req });
}

/**
 * The least a raw fork-server request needs (native/PROTOCOL.md): a uid, one phase with every limit
 * and a counted `--exec`; for tests that talk to a ForkServer without the spec.
 */
export const RAW_PHASE: readonly string[] = [
  '--uid', '65534', '--gid', '65534',
  '--phase', 'run', '--wall-ms', '5000', '--cpu-ms', '5000', '--fsize', String(1 << 20), '--nofile', '64', '--stack', String(8 << 20),
  '--exec', '1', '/bin/true',
];
