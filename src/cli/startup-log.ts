import type { Config } from '../config/schema.js';
import { codexecVersion } from '../config/version.js';
import type { LanguageRegistry } from '../languages/registry.js';
import { describeJobDatabase } from '../queue/open.js';

// The first line `serve` and `worker` log once they run: what an operator checks first (which
// version, how many executors, how isolated, which data directory and database, which languages).

type Languages = Pick<LanguageRegistry, 'list'>;

export function startupFacts(command: 'serve' | 'worker', config: Config, languages: Languages, isolation: { isolation: string; cgroupVersion: string }) {
  const all = languages.list();
  return {
    version: codexecVersion(),
    command,
    /** Execution slots of this process: embedded executors of `serve`, or the worker's concurrency. */
    executors: command === 'serve' ? config.executors : config.workerConcurrency,
    isolation: isolation.isolation,
    cgroup_version: isolation.cgroupVersion,
    data_dir: config.dataDir,
    database: describeJobDatabase(config),
    languages: all.filter((l) => l.available).map((l) => l.id),
    languages_missing: all.filter((l) => !l.available).map((l) => l.id),
  };
}

/** One sentence with the same facts, for people reading the log ("worker started: ..." is what test/faults waits for). */
export function startupLine(command: 'serve' | 'worker', config: Config, languages: Languages, isolation: string): string {
  const all = languages.list();
  const available = all.filter((l) => l.available).length;
  const where = command === 'serve' ? `listening on ${config.host}:${config.port} (${config.auth === 'keys' ? 'API keys required' : 'no authentication: see docs/security.md'}), ${config.executors} embedded executor(s)` : `${config.workerConcurrency} slot(s)`;
  return `${command} started: codexec ${codexecVersion()}, ${where}, isolation ${isolation}, data in ${config.dataDir}, jobs: ${describeJobDatabase(config)}, ${available} of ${all.length} languages available`;
}
