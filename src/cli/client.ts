import { CONFIG_SCHEMA, type Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { ExecutionResponse } from '../api/schemas/executions.js';
import type { StatusResponse } from '../api/schemas/health.js';
import { statusView } from '../api/routes/health.js';
import { executionView } from '../api/views.js';
import { codexecVersion } from '../config/version.js';
import { cancelExecution } from '../executions/cancel.js';
import { submitRun } from '../executions/submit.js';
import type { ComparisonMode } from '../domain/plan.js';
import { describeJobDatabase } from '../queue/open.js';
import { openQueue } from './context.js';
import { requestText } from './http.js';

export interface Submission {
  language: string;
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
  testCases?: { name: string; stdin: string; expectedOutput: string }[];
  comparison?: ComparisonMode;
  timeLimitMs?: number;
  memoryLimitBytes?: number;
}

export interface LanguageInfo {
  id: string;
  name: string;
  version: string | null;
  available: boolean;
  extensions: string[];
}

/** What `codexec run` and `codexec status` need, over HTTP or straight from the local database. */
export interface CodexecClient {
  readonly where: string;
  languages(): Promise<LanguageInfo[]>;
  submit(s: Submission): Promise<string>;
  execution(id: string): Promise<ExecutionResponse>;
  /** Cancels an execution (a finished one is left as it is); the execution as it is then. */
  cancel(id: string): Promise<ExecutionResponse | null>;
  /** The queue at a glance, in GET /status's shape whichever way it was read. */
  status(): Promise<StatusResponse>;
  close(): Promise<void>;
}

/** CODEXEC_API_KEY, through its parser (loadConfig has refused an invalid one already). */
function apiKeyFromEnv(): string {
  return CONFIG_SCHEMA.apiKey.parse(process.env[CONFIG_SCHEMA.apiKey.env] ?? '');
}

export class HttpClient implements CodexecClient {
  private readonly base: URL;
  /**
   * `server` is a URL checked by the CODEXEC_URL parser (http:// or https://). `apiKey`: sent to a
   * server with CODEXEC_AUTH=keys (default CODEXEC_API_KEY; empty: none).
   */
  constructor(
    server: string,
    private readonly apiKey: string = apiKeyFromEnv(),
  ) {
    this.base = new URL(server);
  }
  get where(): string {
    return `server ${this.base.href.replace(/\/$/, '')}`;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await requestText(this.base, method, path, body, this.apiKey);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new CodexecError('bad_response', 502, `${method} ${path} answered HTTP ${res.status} with something that is not JSON: is ${this.base.origin} a codexec server?`);
    }
    if (res.status < 200 || res.status >= 300) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      const message = e?.message ?? `${method} ${path} answered HTTP ${res.status}`;
      // The server wants a key: say where this command takes it from.
      const hint = res.status === 401 ? ` (this command sends the key in CODEXEC_API_KEY${this.apiKey === '' ? ', which is not set' : ''})` : '';
      throw new CodexecError(e?.code ?? 'http_error', res.status, message + hint);
    }
    return json as T;
  }

  languages(): Promise<LanguageInfo[]> {
    return this.call('GET', '/languages');
  }

  async submit(s: Submission): Promise<string> {
    const session = await this.call<{ session_id: string }>('POST', '/code-sessions', { language: s.language, source_code: s.sourceCode });
    const body: Record<string, unknown> = {};
    if (s.testCases) body.test_cases = s.testCases.map((c) => ({ name: c.name, stdin: c.stdin, expected_output: c.expectedOutput }));
    else body.stdin = s.stdin;
    if (s.comparison) body.comparison = s.comparison;
    if (s.expectedOutput !== null) body.expected_output = s.expectedOutput;
    if (s.timeLimitMs) body.time_limit_ms = s.timeLimitMs;
    if (s.memoryLimitBytes) body.memory_limit_bytes = s.memoryLimitBytes;
    const run = await this.call<{ execution_id: string }>('POST', `/code-sessions/${session.session_id}/run`, body);
    return run.execution_id;
  }

  /** Long polling: the server answers as soon as the execution is terminal, or after a second. */
  execution(id: string): Promise<ExecutionResponse> {
    return this.call('GET', `/executions/${encodeURIComponent(id)}?wait_ms=1000`);
  }

  async cancel(id: string): Promise<ExecutionResponse | null> {
    try {
      return await this.call<ExecutionResponse>('POST', `/executions/${encodeURIComponent(id)}/cancel`);
    } catch (err) {
      if (err instanceof CodexecError && err.code === 'execution_finished') return null;
      throw err;
    }
  }

  status(): Promise<StatusResponse> {
    return this.call('GET', '/status');
  }

  async close(): Promise<void> {}
}

/**
 * Without a server: the job goes into the local database's queue like any other; an executor
 * serving that database (this process's own, when `withExecutor`) runs it.
 */
export class LocalClient implements CodexecClient {
  private constructor(
    private readonly config: Config,
    private readonly q: Awaited<ReturnType<typeof openQueue>>,
  ) {}

  static async open(config: Config): Promise<LocalClient> {
    return new LocalClient(config, await openQueue(config, { probeVersions: false }));
  }

  get where(): string {
    return describeJobDatabase(this.config);
  }

  get queue(): Awaited<ReturnType<typeof openQueue>> {
    return this.q;
  }

  async languages(): Promise<LanguageInfo[]> {
    return this.q.languages.list().map((l) => ({ id: l.id, name: l.name, version: l.version, available: l.available, extensions: l.extensions }));
  }

  // The one submit path (executions/submit.ts), as the HTTP route takes it: the same limits,
  // checks and plan; the code is given inline, so there is no session (and no session checks).
  async submit(s: Submission): Promise<string> {
    const { execution } = await submitRun(
      { config: this.config, jobs: this.q.jobs, languages: this.q.languages },
      {
        source: { language: s.language, sourceCode: s.sourceCode },
        ...(s.testCases ? { testCases: s.testCases } : { stdin: s.stdin, expectedOutput: s.expectedOutput }),
        comparison: s.comparison,
        timeLimitMs: s.timeLimitMs,
        memoryLimitBytes: s.memoryLimitBytes,
      },
    );
    return execution.id;
  }

  async execution(id: string): Promise<ExecutionResponse> {
    const rec = await this.q.jobs.get(id);
    if (!rec) throw new CodexecError('execution_not_found', 404, `no execution with id ${JSON.stringify(id)}`);
    return executionView(rec);
  }

  async cancel(id: string): Promise<ExecutionResponse | null> {
    try {
      return executionView((await cancelExecution(this.q.jobs, id)).execution);
    } catch (err) {
      if (err instanceof CodexecError && err.code === 'execution_finished') return null;
      throw err;
    }
  }

  /** The same view as GET /status, read from the database: no server, so no uptime or isolation to report. */
  async status(): Promise<StatusResponse> {
    const now = Date.now();
    return statusView(await this.q.jobs.stats(now), {
      version: codexecVersion(),
      now,
      staleAfterMs: this.config.leaseMs,
      uptimeMs: null,
      isolation: null,
      database: this.config.databaseUrl.trim() === '' ? 'sqlite' : 'postgres',
    });
  }

  async close(): Promise<void> {
    await this.q.jobs.close();
  }
}
