import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AttemptError } from '../../../src/domain/execution.js';
import type { ExecutionRow } from '../../../src/queue/sqlite/rows.js';
import { CodexecProcess, Fatal, ROOT, childEnv, freePort, waitFor } from './procs.js';

// One codexec installation for a fault test: a data directory (the shared SQLite files), a
// profiles directory with only the python profile (copied from sandbox-profiles/, so startup does
// not probe every shipped language and the tests do not depend on toolchains they do not use),
// and the serve/worker processes started on it.

export type Env = Record<string, string | number>;

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'TIMEOUT']);

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `codexec-faults-${prefix}-`));
}

/** Removes a test's directory, unless FAULTS_KEEP_DIRS=1 (then says where its logs are). */
export function removeTempDir(dir: string): void {
  if (process.env.FAULTS_KEEP_DIRS === '1') {
    console.log(`[faults] kept ${dir}`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A profiles directory holding the shipped python profile (optionally changed) and the seccomp profiles. */
export function makeProfilesDir(root: string, edit: (python: Record<string, unknown>) => void = () => {}): string {
  const dir = path.join(root, 'profiles');
  fs.mkdirSync(path.join(dir, 'languages'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'sandbox-profiles', 'seccomp'), path.join(dir, 'seccomp'), { recursive: true });
  const python = JSON.parse(fs.readFileSync(path.join(ROOT, 'sandbox-profiles', 'languages', 'python.json'), 'utf8')) as Record<string, unknown>;
  edit(python);
  fs.writeFileSync(path.join(dir, 'languages', 'python.json'), JSON.stringify(python, null, 2));
  return dir;
}

export class Cluster {
  readonly dataDir: string;
  readonly logDir: string;
  readonly profilesDir: string;
  private n = 0;

  constructor(
    readonly root: string,
    readonly baseEnv: Env = {},
    profilesDir?: string,
  ) {
    this.dataDir = path.join(root, 'data');
    this.logDir = path.join(root, 'logs');
    fs.mkdirSync(this.dataDir, { recursive: true });
    fs.mkdirSync(this.logDir, { recursive: true });
    this.profilesDir = profilesDir ?? makeProfilesDir(root);
  }

  private env(extra: Env): Record<string, string> {
    return childEnv({
      CODEXEC_DATA_DIR: this.dataDir,
      CODEXEC_PROFILES_DIR: this.profilesDir,
      CODEXEC_HOST: '127.0.0.1',
      CODEXEC_LOG_LEVEL: 'info',
      CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: 0,
      CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE: 0,
      ...this.baseEnv,
      ...extra,
    });
  }

  /** `codexec serve`, resolved once /healthz answers. */
  async serve(extra: Env = {}, startupMs = 60_000): Promise<Server> {
    const port = await freePort();
    const name = `serve-${++this.n}`;
    const proc = new CodexecProcess(name, ['serve'], this.env({ CODEXEC_PORT: port, ...extra }), path.join(this.logDir, `${name}.log`));
    const api = new Api(`http://127.0.0.1:${port}`);
    await waitFor(
      `${name} to answer /healthz`,
      async () => {
        if (!proc.alive) throw new Fatal(`${name} exited ${JSON.stringify(proc.exit)}\n${proc.logTail()}`);
        return (await api.get('/healthz').catch(() => null))?.status === 200;
      },
      startupMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${proc.logTail()}`);
    });
    return { proc, api, port };
  }

  /** `codexec worker`, resolved once it logs that it started (its executor is claiming). */
  async worker(extra: Env = {}, startupMs = 60_000): Promise<CodexecProcess> {
    const name = `worker-${++this.n}`;
    const proc = new CodexecProcess(name, ['worker'], this.env(extra), path.join(this.logDir, `${name}.log`));
    await waitFor(
      `${name} to start`,
      () => {
        if (!proc.alive) throw new Fatal(`${name} exited ${JSON.stringify(proc.exit)}\n${proc.logTail()}`);
        return proc.log().includes('"msg":"worker started');
      },
      startupMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${proc.logTail()}`);
    });
    return proc;
  }

  get jobDbFile(): string {
    return path.join(this.dataDir, 'codexec.db');
  }

  get sessionDbFile(): string {
    return path.join(this.dataDir, 'sessions.db');
  }

  /** Runs `fn` on a read-only connection to the job database (a fresh one each time). */
  read<T>(fn: (db: Database.Database) => T, file = this.jobDbFile): T {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  rows(): ExecutionRow[] {
    return this.read((db) => db.prepare('SELECT * FROM executions ORDER BY seq').all() as ExecutionRow[]);
  }

  row(id: string): ExecutionRow | undefined {
    return this.read((db) => db.prepare('SELECT * FROM executions WHERE id = ?').get(id) as ExecutionRow | undefined);
  }

  countByStatus(): Record<string, number> {
    return this.read((db) =>
      Object.fromEntries(
        (db.prepare('SELECT status, COUNT(*) AS n FROM executions GROUP BY status').all() as { status: string; n: number }[]).map((r) => [
          r.status,
          r.n,
        ]),
      ),
    );
  }

  /** PRAGMA integrity_check of a database file: 'ok' when sound. */
  integrity(file = this.jobDbFile): string {
    return this.read((db) => (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; '), file);
  }

  /**
   * Waits until every execution with one of `ids` (default: all) is terminal; returns the rows.
   * Fails at once if one of `needed` (the processes expected to run them) exits meanwhile.
   */
  async waitTerminal(ms: number, ids?: string[], needed: CodexecProcess[] = []): Promise<ExecutionRow[]> {
    const want = ids ? new Set(ids) : null;
    let last = '';
    try {
      return await waitFor(
        'executions to reach a terminal state',
        () => {
          const dead = needed.find((p) => !p.alive);
          if (dead) throw new Fatal(`${dead.name} exited ${JSON.stringify(dead.exit)} while its jobs were not done\n${dead.logTail(10)}`);
          const rows = this.rows().filter((r) => !want || want.has(r.id));
          const open = rows.filter((r) => !TERMINAL.has(r.status));
          last = `${rows.length} rows, ${open.length} not terminal: ${JSON.stringify(this.countByStatus())}`;
          if (want && rows.length < want.size) return false;
          return open.length === 0 ? rows : false;
        },
        ms,
        250,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (${last})`);
    }
  }
}

export interface Server {
  proc: CodexecProcess;
  api: Api;
  port: number;
}

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

/** A minimal JSON client over fetch, for 127.0.0.1 only. */
export class Api {
  constructor(readonly base: string) {}

  async request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(this.base + url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // Prometheus text and the like
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  get(url: string): Promise<Reply> {
    return this.request('GET', url);
  }

  async createSession(sourceCode: string, language = 'python'): Promise<string> {
    const r = await this.request('POST', '/code-sessions', { language, source_code: sourceCode });
    if (r.status !== 201) throw new Error(`create session: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.session_id as string;
  }

  autosave(sessionId: string, sourceCode: string, revision?: number): Promise<Reply> {
    return this.request('PATCH', `/code-sessions/${sessionId}`, revision === undefined ? { source_code: sourceCode } : { source_code: sourceCode, revision });
  }

  run(sessionId: string, body: Record<string, unknown> = {}): Promise<Reply> {
    return this.request('POST', `/code-sessions/${sessionId}/run`, body);
  }

  /** Create a session with `sourceCode` and run it; returns the execution id. */
  async submit(sourceCode: string): Promise<string> {
    const sid = await this.createSession(sourceCode);
    const r = await this.run(sid);
    if (r.status !== 202) throw new Error(`run: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.execution_id as string;
  }
}

export function attemptErrors(row: ExecutionRow): AttemptError[] {
  return JSON.parse(row.errors) as AttemptError[];
}

export function resultOf(row: ExecutionRow): { stdout: string; stderr: string; failureReason: string | null; exitCode: number | null } {
  return JSON.parse(row.result ?? 'null');
}

/** Log lines of `procs` about one execution with the given message. */
export function logEvents(procs: { logLines(): Record<string, unknown>[] }[], msg: string, executionId?: string): Record<string, unknown>[] {
  return procs.flatMap((p) => p.logLines()).filter((l) => l.msg === msg && (executionId === undefined || l.execution_id === executionId));
}

/**
 * Waits until each of `ids` has a `msg` line in the logs of `procs`. An executor logs a run's
 * terminal line after the commit that makes the status visible, so a test that has seen the
 * status waits for the line before it counts lines.
 */
export async function logged(procs: { logLines(): Record<string, unknown>[] }[], msg: string, ids: readonly string[], ms = 10_000): Promise<void> {
  await waitFor(`"${msg}" logged for ${ids.length} execution(s)`, () => ids.every((id) => logEvents(procs, msg, id).length > 0) || undefined, ms, 20);
}

export function figures(test: string, values: Record<string, unknown>): void {
  console.log(`[faults] ${test}: ${Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`).join(' ')}`);
}
