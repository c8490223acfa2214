import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from '../config/schema.js';
import type { KeyStore } from '../keys/key-store.js';
import type { LanguageRegistry } from '../languages/registry.js';
import type { Metrics } from '../observability/metrics.js';
import type { JobStore } from '../queue/job-store.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { TypeBoxTypeProvider } from './validation.js';
import type { ExecutionWaiter } from './execution-waiter.js';
import type { RunLimiter } from './rate-limits.js';
import type { LiveHub } from '../live/hub.js';

/** What the sandbox can guarantee on this host (from the isolation probe at startup). */
export interface IsolationInfo {
  level: 'full' | 'insecure' | 'api_only';
  cgroupVersion: string;
  warnings: string[];
}

/** Everything buildApp needs; the API owns none of it and closes none of it. */
export interface AppDeps {
  config: Config;
  jobs: JobStore;
  sessions: SessionStore;
  languages: LanguageRegistry;
  metrics: Metrics;
  /** A pino logger (used as is), Fastify logger options, or false for none. Default: createLogger(config). */
  logger?: FastifyBaseLogger | FastifyServerOptions['logger'];
  isolation: () => IsolationInfo;
  /** The API keys (the job database's key tables): needed with CODEXEC_AUTH=keys. */
  keys?: KeyStore;
  /** Executors alive, for /readyz. Default: executors with a recent heartbeat in the job store. */
  executorsAlive?: () => Promise<number>;
}

/** Controls the serve command uses on the app (decorated as `app.codexec`). */
export interface AppControl {
  /** From now on, new requests get 503 shutting_down (except /healthz and /metrics) and /readyz says so. */
  beginShutdown(): void;
  readonly shuttingDown: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    codexec: AppControl;
  }
}

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What route modules receive: the dependencies and the app's shutdown state. */
export interface RouteContext extends AppDeps {
  control: AppControl;
  waiter: ExecutionWaiter;
  /** The live-output streams of this process (GET /executions/{id}/events). */
  live: LiveHub;
  /** The client's one budget of runs per minute, shared by every route that submits runs. */
  runLimit: RunLimiter;
}
