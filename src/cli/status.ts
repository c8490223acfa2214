import { Option, type Command } from 'commander';
import type { StatusResponse } from '../api/schemas/health.js';
import { CodexecError } from '../domain/errors.js';
import { EXECUTION_STATUSES } from '../domain/states.js';
import type { CodexecClient } from './client.js';
import { formatAge, summaryLine } from './format.js';

/** "2026-12-04 17:20:01 UTC" */
const clock = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

/** `codexec status` as text: a header, counts, executors and API nodes (stale ones marked), warnings, recent failures by origin. */
export function renderStatus(s: StatusResponse, where: string): string {
  const now = Date.parse(s.time);
  const header = [`codexec ${s.version}`, where];
  if (s.uptime_ms !== null) header.push(`up ${formatAge(s.uptime_ms)}`);
  if (s.isolation) header.push(`isolation ${s.isolation.level}${s.isolation.level === 'api_only' ? '' : ` (cgroup ${s.isolation.cgroup_version})`}`);
  const lines = [header.join(' · '), clock(s.time), ''];
  lines.push(...EXECUTION_STATUSES.map((st) => `${st.padEnd(10)} ${String(s.counts[st] ?? 0).padStart(7)}`));
  lines.push('', `oldest queued: ${formatAge(s.oldest_queued_age_ms)}`, '');
  const stale = s.executors.length - s.executors_alive;
  lines.push(`executors alive: ${s.executors_alive}${stale > 0 ? ` (and ${stale} stale)` : ''}`);
  for (const e of s.executors) {
    const mark = e.stale ? '   STALE' : '';
    lines.push(`  ${e.id.padEnd(40)} ${e.busy}/${e.slots} busy   heartbeat ${formatAge(e.heartbeat_age_ms)} ago${mark}`);
  }
  const staleNodes = s.api_nodes.filter((n) => n.stale).length;
  lines.push('', `API nodes alive: ${s.api_nodes.length - staleNodes}${staleNodes > 0 ? ` (and ${staleNodes} stale)` : ''}`);
  for (const n of s.api_nodes) {
    const mark = n.stale ? '   STALE' : '';
    const role = n.executors > 0 ? `${n.executors} executors` : 'API only';
    lines.push(`  ${n.id.padEnd(40)} ${n.address.padEnd(21)} v${n.version.padEnd(8)} ${role.padEnd(12)} heartbeat ${formatAge(n.heartbeat_age_ms)} ago${mark}`);
  }
  if (s.warnings.length > 0) {
    lines.push('');
    for (const w of s.warnings) lines.push(`warning: ${w.message}`);
  }
  for (const [origin, title] of [
    ['platform', 'recent failures on codexec\'s side (see the logs):'],
    ['program', 'recent failures of the programs (learners\' code):'],
  ] as const) {
    const list = s.recent_failures.filter((f) => f.origin === origin);
    if (list.length === 0) continue;
    lines.push('', title);
    for (const f of list) lines.push(`  ${f.execution_id}  ${(f.failure_reason ?? '-').padEnd(16)} ${formatAge(now - Date.parse(f.finished_at))} ago`);
  }
  return lines.join('\n');
}

function watchSeconds(raw: string | boolean | undefined): number | null {
  if (raw === undefined || raw === false) return null;
  if (raw === true) return 2;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.5 || n > 3600) throw new CodexecError('invalid_flag', 2, `--watch: expected a number of seconds from 0.5 to 3600, got ${JSON.stringify(raw)}`);
  return n;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('The queue at a glance (counts per state, oldest queued age, executors, API nodes, warnings, recent failures), or one execution')
    .argument('[execution_id]', 'show this execution instead')
    .addOption(new Option('--server <url>', 'codexec server to ask [env CODEXEC_URL; default: the local database in CODEXEC_DATA_DIR]'))
    .option('--json', 'print JSON: the shape of GET /status (or of GET /executions/{id}); with --watch, one line per refresh')
    .option('-w, --watch [seconds]', 'refresh every N seconds (default 2) until Ctrl-C')
    .addHelpText('after', '\nExamples:\n  codexec status\n  codexec status --watch\n  codexec status --server http://localhost:8080 --json\n  codexec status 0b6c...-uuid --json\n')
    .action(async (id: string | undefined, opts: { server?: string; json?: boolean; watch?: string | boolean }) => {
      const { loadConfig } = await import('../config/load.js');
      const { HttpClient, LocalClient } = await import('./client.js');
      const { flagOverrides } = await import('./options.js');
      const config = loadConfig(process.env, flagOverrides({ server: opts.server }, { server: 'url' }));
      const seconds = watchSeconds(opts.watch);
      const client: CodexecClient = config.url ? new HttpClient(config.url) : await LocalClient.open(config);
      try {
        if (id) {
          const e = await client.execution(id);
          process.stdout.write(opts.json ? `${JSON.stringify(e, null, 2)}\n` : `${e.execution_id} ${e.language}\n${summaryLine(e)}\n`);
          return;
        }
        if (seconds === null) {
          const s = await client.status();
          process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : `${renderStatus(s, client.where)}\n`);
          return;
        }
        const clear = process.stdout.isTTY && !opts.json;
        for (;;) {
          const s = await client.status();
          if (opts.json) process.stdout.write(`${JSON.stringify(s)}\n`);
          else {
            const text = `${renderStatus(s, client.where)}\n(every ${seconds} s; Ctrl-C to stop)\n`;
            process.stdout.write(clear ? `\x1b[2J\x1b[H${text}` : `${text}\n`);
          }
          await new Promise((r) => setTimeout(r, seconds * 1000));
        }
      } finally {
        await client.close();
      }
    });
}
