import type { Command } from 'commander';
import { CodexecError } from '../domain/errors.js';
import { int } from '../config/parsers.js';
import type { ApiKey, KeyQuotas } from '../keys/api-key.js';

// `codexec keys create | list | revoke`: API keys for servers with CODEXEC_AUTH=keys. They work on
// the job database of this configuration (CODEXEC_DATA_DIR, or CODEXEC_DATABASE_URL), which every
// API node reads: run them on a host that can reach it, as the operator. There is no HTTP route
// for this: a key cannot make or revoke keys.

const quota = int(1, 1_000_000);

/** A quota flag: absent is none of its own; anything but a whole number >= 1 is a usage error. */
function quotaFlag(flag: string, raw: string | undefined): number | null {
  if (raw === undefined) return null;
  try {
    return quota(raw);
  } catch (err) {
    throw new CodexecError('invalid_flag', 2, `--${flag}: ${(err as Error).message}`);
  }
}

const show = (n: number | null) => (n === null ? '-' : String(n));
const when = (ms: number | null) => (ms === null ? '-' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`);

function quotasText(q: KeyQuotas): string {
  const n = (v: number | null) => (v === null ? 'no quota' : String(v));
  return `runs per minute: ${n(q.runsPerMinute)}, executions in flight: ${n(q.executionsInFlight)}, sessions open: ${n(q.sessions)}`;
}

/** `codexec keys list` as text: one line per key, newest last; never the key, only its prefix. */
export function renderKeys(keys: ApiKey[]): string {
  const rows = [['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED', 'RUNS/MIN', 'IN FLIGHT', 'SESSIONS', 'STATUS']];
  for (const k of keys) {
    const q = k.quotas;
    const status = k.revokedAt === null ? 'active' : `revoked ${when(k.revokedAt)}`;
    rows.push([k.id, k.name, k.prefix, when(k.createdAt), when(k.lastUsedAt), show(q.runsPerMinute), show(q.executionsInFlight), show(q.sessions), status]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

function keyJson(k: ApiKey) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    created_at: iso(k.createdAt),
    last_used_at: iso(k.lastUsedAt),
    revoked_at: iso(k.revokedAt),
    quotas: { runs_per_minute: k.quotas.runsPerMinute, executions_in_flight: k.quotas.executionsInFlight, sessions: k.quotas.sessions },
  };
}

/** Runs `fn` with the key store of this configuration, and closes it. */
async function withKeys<T>(fn: (store: import('../keys/key-store.js').KeyStore, config: import('../config/schema.js').Config) => Promise<T>): Promise<T> {
  const { loadConfig } = await import('../config/load.js');
  const { openKeyStore } = await import('../keys/key-store.js');
  const config = loadConfig(process.env);
  const store = await openKeyStore(config, { role: 'cli' });
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

function warnIfAuthOff(config: { auth: string }): void {
  if (config.auth !== 'keys') process.stderr.write('note: CODEXEC_AUTH is not `keys` in this environment; a server checks keys only when it runs with CODEXEC_AUTH=keys\n');
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('Make, list and revoke API keys (for servers with CODEXEC_AUTH=keys), in the job database')
    .addHelpText('after', '\nExamples:\n  codexec keys create --name platform --runs-per-minute 600 --in-flight 20\n  codexec keys list\n  codexec keys revoke key_3f9a1c2b7d4e\n');

  keys
    .command('create')
    .description('Make a key and print it once (codexec keeps only its SHA-256); the summary goes to stderr')
    .requiredOption('--name <name>', 'who the key is for, shown by `keys list` (1 to 100 characters)')
    .option('--runs-per-minute <n>', 'runs the key may submit per minute, over every API node (default: no quota of its own)')
    .option('--in-flight <n>', 'executions the key may have queued or running at once (default: no quota of its own)')
    .option('--sessions <n>', 'sessions the key may have open (ACTIVE) at once (default: no quota of its own)')
    .action(async (opts: { name: string; runsPerMinute?: string; inFlight?: string; sessions?: string }) => {
      const quotas: KeyQuotas = {
        runsPerMinute: quotaFlag('runs-per-minute', opts.runsPerMinute),
        executionsInFlight: quotaFlag('in-flight', opts.inFlight),
        sessions: quotaFlag('sessions', opts.sessions),
      };
      const { createKey } = await import('../keys/keys.js');
      await withKeys(async (store, config) => {
        const { key, secret } = await createKey(store, { name: opts.name, quotas });
        process.stdout.write(`${secret}\n`);
        process.stderr.write(`Made API key ${key.id} (${JSON.stringify(key.name)}; ${quotasText(key.quotas)}).\n`);
        process.stderr.write('The key is printed once, above: codexec keeps only its hash. Clients send it as "Authorization: Bearer <key>".\n');
        warnIfAuthOff(config);
      });
    });

  keys
    .command('list')
    .description('List the keys (never the key itself: its first characters, to recognise it)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withKeys(async (store, config) => {
        const all = await store.list();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(all.map(keyJson), null, 2)}\n`);
          return;
        }
        process.stdout.write(all.length === 0 ? 'No API keys. Make one with `codexec keys create --name NAME`.\n' : `${renderKeys(all)}\n`);
        warnIfAuthOff(config);
      });
    });

  keys
    .command('revoke')
    .description('Revoke a key: every API node refuses it within CODEXEC_AUTH_CACHE_MS (default 5 s)')
    .argument('<id|prefix>', 'the key id (key_...) or the prefix `keys list` shows (cdx_ and 8 characters)')
    .action(async (ref: string) => {
      const { revokeKey } = await import('../keys/keys.js');
      await withKeys(async (store, config) => {
        const key = await revokeKey(store, ref);
        process.stdout.write(`Revoked ${key.id} (${JSON.stringify(key.name)}, ${key.prefix}) at ${when(key.revokedAt)}.\n`);
        process.stderr.write(`API nodes refuse it within their CODEXEC_AUTH_CACHE_MS (${config.authCacheMs} ms here); requests already admitted finish.\n`);
      });
    });
}
