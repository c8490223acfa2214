import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { ExecutionResponse } from '../api/schemas/executions.js';
import type { StatusResponse } from '../api/schemas/health.js';
import { executionView } from '../api/views.js';
import { clampLimits } from '../domain/limits.js';
import type { QueueStats } from '../queue/job-store.js';
import { describeJobDatabase } from '../queue/open.js';
import { openQueue } from './context.js';

export interface Submission {
  language: string;
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
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
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

export class HttpClient implements CodexecClient {
  constructor(private readonly base: string) {}
  get where(): string {
    return this.base;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CodexecError('server_unreachable', 503, `cannot reach ${this.base}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CodexecError('bad_response', 502, `${method} ${path}: HTTP ${res.status}, not JSON`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } }).error;
      throw new CodexecError(e?.code ?? 'http_error', res.status, e?.message ?? `HTTP ${res.status}`);
    }
    return json as T;
  }

  languages(): Promise<LanguageInfo[]> {
    return this.call('GET', '/languages');
  }

  async submit(s: Submission): Promise<string> {
    const session = await this.call<{ session_id: string }>('POST', '/code-sessions', { language: s.language, source_code: s.sourceCode });
    const body: Record<string, unknown> = { stdin: s.stdin };
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

  async stats(): Promise<QueueStats> {
    const s = await this.call<StatusResponse>('GET', '/status');
    return {
      counts: s.counts,
      oldestQueuedAgeMs: s.oldest_queued_age_ms,
      executors: s.executors.map((e) => ({ ...e, startedAt: Date.parse(e.started_at), heartbeatAt: Date.parse(e.heartbeat_at) })),
      recentFailures: s.recent_failures.map((f) => ({ id: f.execution_id, finishedAt: Date.parse(f.finished_at), failureReason: f.failure_reason })),
    };
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

  async submit(s: Submission): Promise<string> {
    const profile = this.q.languages.resolve(s.language);
    if (Buffer.byteLength(s.sourceCode) > this.config.maxSourceBytes) throw new CodexecError('source_too_large', 413, `source is larger than ${this.config.maxSourceBytes} bytes`);
    const overrides = { wallTimeMs: s.timeLimitMs, cpuTimeMs: s.timeLimitMs, memoryBytes: s.memoryLimitBytes };
    clampLimits(profile.limits.default, profile.limits.maximum, overrides);
    const { execution } = await this.q.jobs.enqueue({
      id: randomUUID(),
      sessionId: randomUUID(),
      language: profile.id,
      sourceCode: s.sourceCode,
      stdin: s.stdin,
      expectedOutput: s.expectedOutput,
      limitOverrides: Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
      maxAttempts: this.config.maxAttempts,
    });
    this.q.wake.notify();
    return execution.id;
  }

  async execution(id: string): Promise<ExecutionResponse> {
    const rec = await this.q.jobs.get(id);
    if (!rec) throw new CodexecError('execution_not_found', 404, `no execution with id ${JSON.stringify(id)}`);
    return executionView(rec, this.q.languages);
  }

  stats(): Promise<QueueStats> {
    return this.q.jobs.stats();
  }

  async close(): Promise<void> {
    this.q.wake.close();
    await this.q.jobs.close();
  }
}
