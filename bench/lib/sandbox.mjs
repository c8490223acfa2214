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
    /** Removes this process's cgroup worker directory (else the next codexec start sweeps it). */
    async close() {
      host.close?.();
      try {
        const cg = cgroups.detectCgroups({ parent: settings.cgroupParent });
        // Let not-awaited group removals of the last runs finish first.
        await new Promise((r) => setTimeout(r, 50));
        await cgroups.releaseWorkerDir(cg);
      } catch {
        // best effort
      }
    },
  };
}
