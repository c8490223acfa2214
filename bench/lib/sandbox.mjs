import path from 'node:path';
import { fileURLToPath } from 'node:url';

// codexec's own sandbox, called in this process exactly as a pool thread calls it: isolation probed
// once, one SandboxHost, runInSandbox per run (namespaces, cgroup limits, seccomp, uid drop).

// The codexec tree measured: this repository, or CODEXEC_BENCH_ROOT (a built copy, e.g. a `git
// archive` of another commit: how a "before" is measured while the working tree is in flux).
export const root = process.env.CODEXEC_BENCH_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function importDist(rel) {
  try {
    return await import(path.join(root, 'dist', rel));
  } catch (err) {
    throw new Error(`cannot load dist/${rel} (${err.message}): run \`npm run build\` first`);
  }
}

/**
 * Opens a sandbox host and a language's profile (`language`, default python); throws when this host cannot isolate. `capacity`:
 * the host's slots (and their share), as probeIsolation takes it; default: the configured slots.
 */
export async function openSandbox({ capacity, language = 'python' } = {}) {
  const { loadConfig } = await importDist('config/load.js');
  const { LanguageRegistry, defaultProfilesDir } = await importDist('languages/registry.js');
  const { probeIsolation, openSandboxHost } = await importDist('sandbox/host.js');
  const { runInSandbox } = await importDist('sandbox/run.js');
  const cgroups = await importDist('sandbox/cgroups/index.js');
  // Only defaults: the benchmark must not pick up an operator's CODEXEC_* settings.
  const config = loadConfig({});
  const dir = defaultProfilesDir();
  const languages = await LanguageRegistry.load(dir, config);
  const { settings, report } = await probeIsolation(config, dir, capacity ? { capacity } : {});
  if (report.level !== 'full') throw new Error(`isolation unavailable: ${report.problems.join('; ')}`);
  const host = await openSandboxHost(settings);
  const profile = languages.resolve(language);
  let seq = 0;
  const tag = `bench${process.pid}`;
  const cg = cgroups.detectCgroups({ parent: settings.cgroupParent });
  // The fork-server request of the last run (launcherRun sends it again).
  let recorded = null;
  const start = host.forkServers.start.bind(host.forkServers);
  host.forkServers.start = (args, input, stdin, onChunk) => {
    recorded = { args, input, stdin };
    return start(args, input, stdin, onChunk);
  };
  const limitsOf = (p) => ({ memoryBytes: p.limits.default.memoryBytes, processes: p.limits.default.processes, cpuQuotaPercent: settings.sandbox.cpuQuotaPercent ?? 100 });
  return {
    report,
    profile,
    /** One sandboxed run of `source` (`limits`: overrides of the profile's defaults); resolves with wall ms and the outcome. */
    async run(source, limits = {}) {
      const t0 = performance.now();
      const outcome = await runInSandbox(host, {
        executionId: `${tag}-${seq++}`,
        profile,
        sourceCode: source,
        stdin: '',
        runLimits: { ...profile.limits.default, ...limits },
        compileLimits: null,
      });
      return { ms: performance.now() - t0, outcome };
    },
    /**
     * The launcher alone: the fork-server request of the last run() again, with a fresh execution
     * group made and removed outside the timing, timed from the request to the exit frame. What
     * runInSandbox adds on top of it is Node's side of a run (the spec, the group's files, the
     * outcome, the kill and the memory check).
     */
    async launcherRun() {
      const last = recorded;
      if (!last) throw new Error('launcherRun: no request recorded yet (call run() first)');
      const group = cgroups.createExecutionGroup(cg, `${tag}-l${seq++}`, limitsOf(profile));
      const procs = [...group.procsPaths];
      const args = last.args.map((w, i) => (last.args[i - 1] === '--cgroup' ? procs.shift() : w));
      const out = { stdout: '', status: '' };
      try {
        const t0 = performance.now();
        const started = host.forkServers.start(args, last.input, last.stdin, (fd, c) => {
          if (fd === 1) out.stdout += c;
          else if (fd === 4) out.status += c;
        });
        const code = await started.done;
        return { ms: performance.now() - t0, code, ...out };
      } finally {
        await group.kill().catch(() => {});
        await group.remove().catch(() => {});
      }
    },
    /** Removes this process's cgroup worker directory (else the next codexec start sweeps it). */
    async close() {
      host.close?.();
      try {
        // Let not-awaited group removals of the last runs finish first.
        await new Promise((r) => setTimeout(r, 50));
        await cgroups.releaseWorkerDir(cg);
      } catch {
        // best effort
      }
    },
  };
}
