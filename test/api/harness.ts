import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../../src/api/app.js';
import type { App, AppDeps, IsolationInfo } from '../../src/api/context.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { defaultProfilesDir, LanguageRegistry } from '../../src/languages/registry.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { openSessionStore, type SessionStore } from '../../src/sessions/session-store.js';
import type { KeyStore } from '../../src/keys/key-store.js';
import { SqliteKeyStore } from '../../src/keys/sqlite/sqlite-key-store.js';

// The real app over real SQLite files in a temp dir, with a profiles dir of our own: python (its
// toolchain is on every machine that runs these tests), a compiled language, and one whose
// toolchain is missing. No executor runs, so executions stay QUEUED.

export const FIXTURE_LANGUAGES = {
  python: {
    id: 'python',
    name: 'Python 3',
    aliases: ['py', 'python3'],
    extensions: ['.py'],
    sourceFile: 'main.py',
    toolchain: { python: ['/usr/bin/python3', '/usr/local/bin/python3'] },
    version: { command: ['$python', '--version'], pattern: 'Python (\\S+)' },
    run: { command: ['$python', 'main.py'] },
    seccomp: 'default',
    template: "print('Hello World')\n",
    limits: { maximum: { wallTimeMs: 20_000, memoryBytes: 512 * 1024 * 1024 } },
  },
  shellc: {
    id: 'shellc',
    name: 'A compiled language',
    extensions: ['.shc'],
    sourceFile: 'main.shc',
    toolchain: { sh: ['/bin/sh', '/usr/bin/sh'] },
    version: { command: ['$sh', '-c', 'echo 1.0'], pattern: '(\\S+)' },
    compile: { command: ['$sh', '-n', 'main.shc'] },
    run: { command: ['$sh', 'main.shc'] },
    seccomp: 'default',
    template: 'echo hi\n',
  },
  ghostlang: {
    id: 'ghostlang',
    name: 'A language whose toolchain is not installed',
    extensions: ['.ghost'],
    sourceFile: 'main.ghost',
    toolchain: { ghost: ['/nonexistent/bin/ghost'] },
    version: { command: ['$ghost', '--version'], pattern: '(\\S+)' },
    run: { command: ['$ghost', 'main.ghost'] },
    seccomp: 'default',
    template: 'boo\n',
  },
};

export function makeProfilesDir(root: string): string {
  const dir = path.join(root, 'profiles');
  fs.mkdirSync(path.join(dir, 'languages'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'seccomp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'seccomp', 'default.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }));
  for (const [id, profile] of Object.entries(FIXTURE_LANGUAGES)) {
    fs.writeFileSync(path.join(dir, 'languages', `${id}.json`), JSON.stringify(profile, null, 2));
  }
  return dir;
}

export interface Harness {
  app: App;
  config: Config;
  jobs: JobQueue;
  sessions: SessionStore;
  languages: LanguageRegistry;
  metrics: Metrics;
  /** The API keys in codexec.db (opened with CODEXEC_AUTH=keys only). */
  keys: KeyStore | undefined;
  dir: string;
  /** "available" events the queue published: what wakes executors. */
  wakes: { count: number };
  isolation: IsolationInfo;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: Partial<Record<keyof Config, unknown>>;
  deps?: Partial<AppDeps>;
  /** Load the package's own sandbox-profiles/ (with version probes) instead of the fixtures. */
  shippedProfiles?: boolean;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-api-'));
  const config = loadConfig(
    {},
    {
      dataDir: dir,
      logLevel: 'silent',
      executors: 0,
      profilesDir: opts.shippedProfiles ? defaultProfilesDir() : makeProfilesDir(dir),
      ...opts.config,
    },
  );
  const jobs = openSqliteQueue(path.join(dir, 'codexec.db'));
  const sessions = await openSessionStore(config);
  const languages = await LanguageRegistry.load(config.profilesDir, config, { probeVersions: opts.shippedProfiles === true });
  const metrics = new Metrics({ defaultMetrics: false });
  const keys = opts.deps?.keys ?? (config.auth === 'keys' ? SqliteKeyStore.open(path.join(dir, 'codexec.db')) : undefined);
  const wakes = { count: 0 };
  jobs.events.onEvent((e) => {
    if (e.kind === 'available') wakes.count += 1;
  });
  const isolation: IsolationInfo = { level: 'full', cgroupVersion: 'v2', warnings: [] };
  const app = await buildApp({
    config,
    jobs,
    sessions,
    languages,
    metrics,
    logger: false,
    isolation: () => isolation,
    ...opts.deps,
    keys,
  });
  await app.ready();
  return {
    app,
    config,
    jobs,
    sessions,
    languages,
    metrics,
    keys,
    dir,
    wakes,
    isolation,
    async close() {
      await app.close();
      await sessions.close();
      if (!opts.deps?.keys) await keys?.close();
      await jobs.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** JSON request helper around app.inject(). */
export async function call(
  h: Harness,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await h.app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  let json: any;
  try {
    json = res.json();
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, body: res.body };
}

export async function createSession(h: Harness, body: Record<string, unknown> = { language: 'python' }): Promise<any> {
  const res = await call(h, 'POST', '/code-sessions', body);
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.body}`);
  return res.json;
}
