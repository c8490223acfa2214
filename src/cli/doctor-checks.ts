import fs from 'node:fs';
import os from 'node:os';
import { execa } from 'execa';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { LanguageRegistry } from '../languages/registry.js';
import { defaultLauncherPath, openSandboxHost, probeIsolation } from '../sandbox/host.js';
import { detectCgroups, describeCgroups } from '../sandbox/cgroups/index.js';
import { hostSeccompArch } from '../sandbox/seccomp/index.js';
import { runSandbox, type SandboxHost } from '../sandbox/run.js';
import type { IsolationReport } from '../sandbox/host.js';
import { buildPlan } from '../executions/plan.js';
import { profilesDir } from './context.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
  /** A finding that weakens the sandbox's surroundings without stopping it: shown, not failed. */
  warning?: boolean;
}

/**
 * kernel.core_pattern: when it pipes core dumps to a helper (systemd-coredump, apport), the
 * kernel starts that helper, as root on the host, for every crashing process, and RLIMIT_CORE=0
 * (which the sandbox sets) does not stop it (core(5)): a learner's crashing program would then
 * reach a host program with its memory image.
 */
export function corePatternCheck(pattern: string): Check {
  const p = pattern.trim();
  const piped = p.startsWith('|');
  return {
    name: 'core dumps',
    ok: !piped,
    warning: piped || undefined,
    detail: piped ? `kernel.core_pattern pipes to ${p.slice(1).split(/\s+/)[0]}` : `kernel.core_pattern is a file name (${p || 'empty'}): RLIMIT_CORE=0 suppresses them`,
    hint: piped ? 'the helper runs on the host for every crashing program despite RLIMIT_CORE=0; on worker hosts set kernel.core_pattern=core (sysctl), or disable the helper (systemd-coredump, apport)' : undefined,
  };
}

async function namespaceCheck(flag: string, name: string): Promise<Check> {
  const r = await execa('unshare', [flag, '--fork', '/bin/true'], { reject: false, extendEnv: false, env: { PATH: '/usr/bin:/bin' } });
  return { name: `namespace: ${name}`, ok: r.exitCode === 0, detail: r.exitCode === 0 ? 'can create' : (r.stderr || 'unshare failed').trim(), hint: 'run as root (or with CAP_SYS_ADMIN); in a container: see README "Docker" for the privileges the worker needs' };
}

/**
 * Huge pages and disk I/O: executions must not take the host's hugetlb pool (charged to no memory
 * limit) or its disks' bandwidth. Warnings, not failures: seccomp denies huge pages either way,
 * and a host without a throttleable disk (overlay, network storage) still isolates.
 */
export function resourceChecks(report: Pick<IsolationReport, 'hugetlb' | 'io'>): Check[] {
  return [
    {
      name: 'hugetlb',
      ok: report.hugetlb.limitedByCgroup,
      warning: !report.hugetlb.limitedByCgroup || undefined,
      detail: report.hugetlb.detail,
      hint: report.hugetlb.limitedByCgroup ? undefined : 'enable the hugetlb controller for codexec\'s cgroup (v2: systemd Delegate=yes; v1: mount it at /sys/fs/cgroup/hugetlb)',
    },
    {
      name: 'disk I/O',
      ok: report.io.devices.length > 0,
      warning: report.io.devices.length === 0 || undefined,
      detail: report.io.detail,
      hint: report.io.devices.length > 0 ? undefined : 'enable the io (v2) or blkio (v1) controller for codexec\'s cgroup; the binds (/usr, /lib) must be on a block device',
    },
  ];
}

/**
 * How each execution's program enters its cgroups (native/limits.c), and what that costs. A write to
 * cgroup.procs migrates the process, and a migration takes the kernel's cgroup_threadgroup_rwsem
 * for writing, which waits for an RCU grace period whenever no migration happened during the last
 * one: every run that follows an idle moment pays it (6-14 ms on the 2-core benchmark VM, about half
 * of the end-to-end overhead; bench/RESULTS.md). On cgroup v2 (Linux >= 5.7) the launcher clones the
 * program into its cgroup instead (clone3 CLONE_INTO_CGROUP), which needs no migration. On v1
 * hierarchies it must migrate, and only the cgroup2 mount option favordynmods (host-wide; the
 * kernel's trade: fork and exit get slightly costlier) removes the wait. A warning, never a failure:
 * isolation is the same either way.
 */
export function cgroupEntryCheck(version: 1 | 2 | 'none', kernelRelease: string, mounts: string): Check {
  const name = 'cgroup entry';
  const [major = 0, minor = 0] = kernelRelease.split(/[.-]/).map(Number);
  const favored = mounts.split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2' && (f[3] ?? '').split(',').includes('favordynmods'));
  if (version === 2 && (major > 5 || (major === 5 && minor >= 7))) {
    return { name, ok: true, detail: 'cgroup v2: each program is cloned into its cgroup (clone3 CLONE_INTO_CGROUP), no migration' };
  }
  if (favored) {
    return { name, ok: true, detail: `each program joins its cgroups by a migration; favordynmods is set on ${favored[1]}, so it does not wait for an RCU grace period` };
  }
  if (version === 'none') return { name, ok: false, warning: true, detail: 'no cgroups: nothing to enter' };
  return {
    name,
    ok: false,
    warning: true,
    detail: `${version === 2 ? `cgroup v2 on Linux ${major}.${minor} (< 5.7, no CLONE_INTO_CGROUP)` : 'cgroup v1'}: each program joins its cgroups by a migration, which waits for an RCU grace period after the host was idle (6-14 ms per execution measured on a 2-core VM)`,
    hint: 'mount a cgroup2 hierarchy with the favordynmods option (remount the existing cgroup2 mount with it): host-wide, it makes fork and exit slightly costlier; or run the host on pure cgroup v2, where programs are cloned into their cgroup',
  };
}

/** Every check, in order; `config` defaults to this process's environment. */
export async function runDoctor(config: Config = loadConfig(process.env)): Promise<Check[]> {
  const checks: Check[] = [];
  const root = process.geteuid?.() === 0;
  checks.push({ name: 'running as root', ok: root, detail: root ? 'uid 0' : `uid ${process.geteuid?.()}`, hint: 'the sandbox needs root to create namespaces and cgroups and to drop to an unprivileged uid' });
  for (const [flag, name] of [['--pid', 'pid'], ['--mount', 'mount'], ['--net', 'net'], ['--ipc', 'ipc'], ['--uts', 'uts'], ['--cgroup', 'cgroup']]) {
    checks.push(await namespaceCheck(flag, name));
  }
  try {
    const cg = detectCgroups({ parent: config.cgroupParent || undefined });
    checks.push({ name: 'cgroups', ok: cg.problems.length === 0, detail: describeCgroups(cg).join('; '), hint: cg.problems.join('; ') || undefined });
    checks.push(cgroupEntryCheck(cg.version, os.release(), fs.readFileSync('/proc/mounts', 'utf8')));
  } catch (err) {
    checks.push({ name: 'cgroups', ok: false, detail: (err as Error).message });
  }
  let seccompOk = false;
  let seccompDetail = '';
  try {
    const arch = hostSeccompArch();
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    seccompOk = /^Seccomp:/m.test(status) && fs.existsSync('/proc/sys/kernel/seccomp/actions_avail');
    seccompDetail = seccompOk ? `filters supported (${arch})` : 'kernel reports no seccomp support';
  } catch (err) {
    seccompDetail = (err as Error).message;
  }
  checks.push({ name: 'seccomp', ok: seccompOk, detail: seccompDetail, hint: 'a kernel built with CONFIG_SECCOMP_FILTER' });
  try {
    checks.push(corePatternCheck(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')));
  } catch (err) {
    checks.push({ name: 'core dumps', ok: false, warning: true, detail: `cannot read kernel.core_pattern: ${(err as Error).message}` });
  }
  const launcher = defaultLauncherPath();
  const built = fs.existsSync(launcher);
  checks.push({ name: 'sandbox launcher', ok: built, detail: built ? launcher : 'not built', hint: 'run `npm install` (or `node scripts/build-launcher.mjs`) with a C compiler (cc) present' });

  const reg = await LanguageRegistry.load(profilesDir(config), config);
  for (const l of reg.list()) {
    checks.push({ name: `language: ${l.id}`, ok: l.available, detail: l.available ? `${l.name} ${l.version ?? ''}`.trim() : `missing ${l.missing.join('; ')}`, hint: 'install the toolchain (see README "Languages") or ignore: the API refuses this language with 422' });
  }

  // The real thing: one sandboxed run of the first available language.
  try {
    const { settings, report, release } = await probeIsolation({ ...config, insecureAllowUnisolated: false }, profilesDir(config));
    checks.push(...resourceChecks(report));
    let host: SandboxHost | null = null;
    try {
      host = await openSandboxHost(settings);
      const lang = reg.list().find((l) => l.available && l.id === 'python') ?? reg.list().find((l) => l.available);
      if (lang) {
        const plan = buildPlan(lang, { sourceCode: lang.template, stdin: '', expectedOutput: null, testCases: null, overrides: {} });
        const out = await runSandbox(host, {
          executionId: `doctor-${process.pid}`,
          plan,
          files: [{ path: plan.sourceFile, content: Buffer.from(lang.template, 'utf8'), executable: false }],
          phases: plan.compile ? ['compile', 'run'] : ['run'],
          stdin: '',
        });
        checks.push({ name: 'sandbox smoke test', ok: out.kind === 'completed', detail: out.kind === 'completed' ? `${lang.id} template ran isolated in ${out.executionTimeMs} ms` : `${out.kind}: ${out.message ?? out.stderr.slice(0, 200)}` });
      }
    } finally {
      await host?.close();
      // A directory left behind is harmless (the next start sweeps it): not the smoke test's failure.
      await release().catch(() => {});
    }
  } catch (err) {
    checks.push({ name: 'sandbox smoke test', ok: false, detail: (err as Error).message });
  }
  return checks;
}

