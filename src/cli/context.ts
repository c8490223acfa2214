import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { LanguageRegistry, defaultProfilesDir } from '../languages/registry.js';
import { openJobStore, openWakeSignal } from '../queue/open.js';
import type { JobStore } from '../queue/job-store.js';
import type { WakeSignal } from '../queue/wake.js';
import { probeIsolation, openSandboxHost, type IsolationReport } from '../sandbox/host.js';
import { Executor, type ExecutorHooks } from '../worker/executor.js';
import { InlineRunner, PoolRunner } from '../worker/runners.js';

export function profilesDir(config: Config): string {
  return config.profilesDir ? path.resolve(config.profilesDir) : defaultProfilesDir();
}

/** The queue, the languages and the wake signal: what every command that touches jobs needs. */
export async function openQueue(config: Config, opts: { probeVersions?: boolean } = {}): Promise<{ jobs: JobStore; languages: LanguageRegistry; wake: WakeSignal }> {
  // Version probes start every toolchain once (the JVM takes a while): only servers need them.
  const languages = await LanguageRegistry.load(profilesDir(config), config, { probeVersions: opts.probeVersions ?? true });
  const jobs = await openJobStore(config);
  const wake = await openWakeSignal(config, { unref: true });
  return { jobs, languages, wake };
}

/** Probe isolation once, then start an executor with `slots` sandboxes (pool threads or inline). */
export async function startExecutor(
  config: Config,
  q: { jobs: JobStore; languages: LanguageRegistry; wake: WakeSignal },
  opts: { slots: number; runner: 'pool' | 'inline'; logger: Logger; hooks?: ExecutorHooks },
): Promise<{ executor: Executor; isolation: IsolationReport; close: () => Promise<void> }> {
  const { settings, report } = await probeIsolation(config, profilesDir(config));
  for (const w of report.warnings) opts.logger.warn({ problems: report.problems }, w);
  // With fork servers an execution is non-blocking I/O for this thread (a request to a small
  // helper, then its output), so it runs here. Spawning from Node (the exec spawner, and the
  // unisolated mode) forks the whole process and blocks the calling thread meanwhile: pool threads
  // keep that off the HTTP event loop.
  const spawnBlocks = settings.mode === 'insecure' || settings.spawner === 'exec';
  const runner = opts.runner === 'pool' && spawnBlocks ? new PoolRunner(opts.slots, settings) : new InlineRunner(await openSandboxHost(settings));
  const executor = new Executor({
    store: q.jobs,
    languages: q.languages,
    runner,
    wake: q.wake,
    logger: opts.logger,
    slots: opts.slots,
    leaseMs: config.leaseMs,
    retryBaseMs: config.retryBaseMs,
    resultWarnings: report.warnings,
    hooks: opts.hooks,
    retentionMs: config.retentionMs,
  });
  executor.start();
  return { executor, isolation: report, close: () => runner.close() };
}
