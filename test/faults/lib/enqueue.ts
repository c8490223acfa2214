import { loadConfig } from '../../../src/config/load.js';
import { submitRun } from '../../../src/executions/submit.js';
import { LanguageRegistry, defaultProfilesDir } from '../../../src/languages/registry.js';
import { openSqliteQueue } from '../../../src/queue/open.js';

/**
 * Enqueues python runs straight into a job database, through the real submit path (plans
 * included) but without HTTP in the way: a backlog for a server that is not running yet.
 */
export async function enqueuePython(
  file: string,
  sources: string[],
  opts: { profilesDir?: string; languages?: LanguageRegistry; maxAttempts?: number } = {},
): Promise<string[]> {
  const config = loadConfig({}, { queueMaxDepth: 1_000_000, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) });
  const languages = opts.languages ?? (await LanguageRegistry.load(opts.profilesDir ?? defaultProfilesDir(), config, { probeVersions: false }));
  const jobs = openSqliteQueue(file);
  const ids: string[] = [];
  try {
    for (const sourceCode of sources) {
      const { execution } = await submitRun({ config, jobs, languages }, { source: { language: 'python', sourceCode } });
      ids.push(execution.id);
    }
  } finally {
    await jobs.close();
  }
  return ids;
}
