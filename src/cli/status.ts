import { Option, type Command } from 'commander';
import { EXECUTION_STATUSES } from '../domain/states.js';
import type { QueueStats } from '../queue/job-store.js';
import type { CodexecClient } from './client.js';
import { formatAge, summaryLine } from './format.js';

export function renderStats(s: QueueStats, where: string, now = Date.now()): string {
  const lines = [`codexec queue (${where})`, ''];
  lines.push(EXECUTION_STATUSES.map((st) => `${st.padEnd(10)} ${String(s.counts[st] ?? 0).padStart(7)}`).join('\n'));
  lines.push('', `oldest queued: ${formatAge(s.oldestQueuedAgeMs)}`, '', `executors alive: ${s.executors.length}`);
  for (const e of s.executors) {
    lines.push(`  ${e.id.padEnd(40)} ${e.busy}/${e.slots} busy   heartbeat ${formatAge(now - e.heartbeatAt)} ago`);
  }
  if (s.recentFailures.length > 0) {
    lines.push('', 'recent failures:');
    for (const f of s.recentFailures) lines.push(`  ${f.id}  ${f.failureReason ?? '-'}  ${formatAge(now - f.finishedAt)} ago`);
  }
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('The queue at a glance (counts per state, oldest queued age, executors), or one execution')
    .argument('[execution_id]', 'show this execution instead')
    .addOption(new Option('--server <url>', 'codexec server to ask [env CODEXEC_URL; default: the local database]'))
    .option('--json', 'print JSON')
    .option('-w, --watch [seconds]', 'refresh every N seconds (default 2)')
    .addHelpText('after', '\nExamples:\n  codexec status\n  codexec status --watch\n  codexec status 0b6c...-uuid --json\n')
    .action(async (id: string | undefined, opts: { server?: string; json?: boolean; watch?: string | boolean }) => {
      const { loadConfig } = await import('../config/load.js');
      const { HttpClient, LocalClient } = await import('./client.js');
      const config = loadConfig(process.env);
      const server = opts.server ?? (config.url || undefined);
      const client: CodexecClient = server ? new HttpClient(server) : await LocalClient.open(config);
      try {
        if (id) {
          const e = await client.execution(id);
          process.stdout.write(opts.json ? `${JSON.stringify(e, null, 2)}\n` : `${e.execution_id} ${e.language}\n${summaryLine(e)}\n`);
          return;
        }
        const once = async () => {
          const s = await client.stats();
          return opts.json ? JSON.stringify(s, null, 2) : renderStats(s, client.where);
        };
        if (!opts.watch) {
          process.stdout.write(`${await once()}\n`);
          return;
        }
        const seconds = typeof opts.watch === 'string' ? Math.max(0.5, Number(opts.watch) || 2) : 2;
        for (;;) {
          const text = await once();
          process.stdout.write(process.stdout.isTTY ? `\x1b[2J\x1b[H${text}\n` : `${text}\n\n`);
          await new Promise((r) => setTimeout(r, seconds * 1000));
        }
      } finally {
        await client.close();
      }
    });
}
