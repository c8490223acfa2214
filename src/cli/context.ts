import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../domain/errors.js';
import { LanguageRegistry, defaultProfilesDir } from '../languages/registry.js';
import { buildPlan } from '../executions/plan.js';
import { openJobStore } from '../queue/open.js';
import type { ProcessRole } from '../queue/postgres/application-name.js';
import type { JobStore, LegacyJob } from '../queue/job-store.js';
import { probeIsolation, type IsolationReport } from '../sandbox/host.js';
import { Executor, type ExecutorHooks } from '../executor/executor.js';
import { openSandboxRunner } from '../executor/open-sandbox.js';

/**
 * The profiles directory, checked before anything reads it: a missing CODEXEC_PROFILES_DIR is an
 * invalid setting named as such, not an ENOENT from deep inside the language registry.
 */
export function profilesDir(config: Pick<Config, 'profilesDir'>): string {
  const dir = config.profilesDir ? path.resolve(config.profilesDir) : defaultProfilesDir();
  const missing = ['languages', 'seccomp'].filter((sub) => !fs.statSync(path.join(dir, sub), { throwIfNoEntry: false })?.isDirectory());
  if (missing.length > 0) {
    const what = fs.existsSync(dir) ? `${dir} has no ${missing.map((m) => `${m}/`).join(' or ')} directory` : `${dir} does not exist`;
    throw new ConfigError([
      config.profilesDir
        ? `CODEXEC_PROFILES_DIR: ${what} (it must hold languages/ and seccomp/; leave it empty for the package's sandbox-profiles/)`
        : `the package's sandbox profiles are missing: ${what}; reinstall codexec, or set CODEXEC_PROFILES_DIR`,
    ]);
  }
  return dir;
}

/**
 * A plan for a job queued by a codexec older than plans, from its request's pieces and the
 * language profile as it is now (the old codexec would have applied it at claim time too).
 */
function planLegacyJob(languages: LanguageRegistry, job: LegacyJob) {
  const profile = languages.find(job.language);
  if (!profile?.available) return null;
  return buildPlan(profile, { sourceCode: '', stdin: job.stdin, expectedOutput: job.expectedOutput, testCases: null, overrides: job.limitOverrides });
}

/** The queue and the languages: what every command that touches jobs needs. */
export async function openQueue(config: Config, opts: { probeVersions?: boolean; role?: ProcessRole } = {}): Promise<{ jobs: JobStore; languages: LanguageRegistry }> {
  // Version probes start every toolchain once (the JVM takes a while): only servers need them.
  const languages = await LanguageRegistry.load(profilesDir(config), config, { probeVersions: opts.probeVersions ?? true });
  const jobs = await openJobStore(config, { role: opts.role });
  await jobs.planLegacy((job) => planLegacyJob(languages, job));
  return { jobs, languages };
}

/** Probe isolation once, then start an executor with `slots` sandboxes (pool threads or inline). */
export async function startExecutor(
  config: Config,
  q: { jobs: JobStore },
  opts: { slots: number; runner: 'pool' | 'inline'; logger: Logger; hooks?: ExecutorHooks },
): Promise<{ executor: Executor; isolation: IsolationReport; close: () => Promise<void> }> {
  const { settings, report, release } = await probeIsolation(config, profilesDir(config));
  for (const w of report.warnings) opts.logger.warn({ problems: report.problems }, w);
  const sandbox = await openSandboxRunner(settings, { slots: opts.slots, pool: opts.runner === 'pool' });
  const executor = new Executor({
    store: q.jobs,
    sandbox,
    logger: opts.logger,
    slots: opts.slots,
    leaseMs: config.leaseMs,
    retryBaseMs: config.retryBaseMs,
    resultWarnings: report.warnings,
    hooks: opts.hooks,
    retentionMs: config.retentionMs,
  });
  executor.start();
  return {
    executor,
    isolation: report,
    close: async () => {
      await sandbox.close();
      // Harmless if it fails: the next start on this host sweeps what is left.
      await release().catch((err: unknown) => opts.logger.warn({ err }, 'the worker\'s cgroup directory was not removed; the next start on this host removes it'));
    },
  };
}
