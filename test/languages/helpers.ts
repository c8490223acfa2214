import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/load.js';
import type { RunOutcome } from '../../src/domain/execution.js';
import { clampLimits, type Limits, type LimitOverrides } from '../../src/domain/limits.js';
import type { LanguageProfile } from '../../src/languages/profile.js';
import { defaultProfilesDir, LanguageRegistry } from '../../src/languages/registry.js';
import { detectCgroups, releaseWorkerDir } from '../../src/sandbox/cgroups/index.js';
import { probeIsolation, openSandboxHost } from '../../src/sandbox/host.js';
import { runInSandbox, type SandboxHost } from '../../src/sandbox/run.js';

// Runs programs through the real sandbox: the launcher, namespaces, seccomp and cgroups of this host.

export const profilesDir = defaultProfilesDir();

export function loadRegistry(): Promise<LanguageRegistry> {
  return LanguageRegistry.load(profilesDir, loadConfig({}));
}

export interface IsolatedHost {
  host: SandboxHost | null;
  /** Why there is no host (not root, no cgroups, launcher not built...). */
  reason: string;
  /** Removes this process's cgroup directory (the worker does the same at shutdown). */
  close(): Promise<void>;
}

/** The same host a worker would open, or the reason this machine cannot isolate. Never unisolated. */
export async function openIsolatedHost(): Promise<IsolatedHost> {
  try {
    const config = loadConfig({});
    const { settings } = await probeIsolation(config, profilesDir);
    if (settings.mode !== 'isolated') return { host: null, reason: 'the host cannot isolate executions', close: async () => {} };
    const host = await openSandboxHost(settings);
    return { host, reason: '', close: () => { host.close?.(); return releaseWorkerDir(detectCgroups({ parent: settings.cgroupParent, setUp: false })); } };
  } catch (err) {
    return { host: null, reason: (err as Error).message, close: async () => {} };
  }
}

export interface RunOptions {
  stdin?: string;
  limits?: LimitOverrides;
  /** Fields of the run limits beyond what a client may override (e.g. processes). */
  runLimits?: Partial<Limits>;
}

export function run(host: SandboxHost, profile: LanguageProfile, sourceCode: string, opts: RunOptions = {}): Promise<RunOutcome> {
  const runLimits = { ...clampLimits(profile.limits.default, profile.limits.maximum, opts.limits), ...opts.runLimits };
  return runInSandbox(host, {
    executionId: `lang-${profile.id}-${randomUUID().slice(0, 8)}`,
    profile,
    sourceCode,
    stdin: opts.stdin ?? '',
    runLimits,
    compileLimits: profile.compile?.limits ?? null,
  });
}

/** A one-line summary for assertion messages: what happened when the kind was not the expected one. */
export function describeOutcome(o: RunOutcome): string {
  return JSON.stringify({
    kind: o.kind,
    exitCode: o.exitCode,
    signal: o.signal,
    message: o.message,
    step: o.sandboxErrorStep,
    stdout: o.stdout.slice(0, 300),
    stderr: o.stderr.slice(0, 600),
    compile: o.compile && { ok: o.compile.ok, exitCode: o.compile.exitCode, output: o.compile.output.slice(0, 600) },
    ms: o.executionTimeMs,
    cpuMs: o.cpuTimeMs,
    peakKb: o.memoryPeakKb,
  });
}
