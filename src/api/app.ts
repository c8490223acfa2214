import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { MalformedBodyError, NotFoundError, ShuttingDownError } from '../domain/errors.js';
import { createLogger } from '../observability/logger.js';
import type { App, AppControl, AppDeps, RouteContext } from './context.js';
import { judge0Api, pistonApi } from './compat/index.js';
import { ExecutionWaiter } from './execution-waiter.js';
import { makeErrorHandler, sendError, shortPath, toCodexecError } from './error-handler.js';
import { createRunLimiter, registerRateLimits } from './rate-limits.js';
import { describeAuth, registerAuth, withKeyRunQuota } from './auth.js';
import { LiveHub } from '../live/hub.js';
import { registerLiveMetrics } from '../live/metrics.js';
import { liveFormat } from './live-format.js';
import { batchRoutes } from './routes/batch.js';
import { eventRoutes } from './routes/events.js';
import { executionRoutes } from './routes/executions.js';
import { healthRoutes } from './routes/health.js';
import { languageRoutes } from './routes/languages.js';
import { runRoutes } from './routes/runs.js';
import { sessionRoutes } from './routes/sessions.js';
import { serverOptions } from './server-options.js';
import { typeBoxValidatorCompiler, type TypeBoxTypeProvider } from './validation.js';

// buildApp applies them itself; re-exported for callers that import everything from here.
export { serverOptions };

// Routes that keep answering during shutdown: liveness and metrics stay truthful while draining,
// and /readyz reports the shutdown itself (503) so load balancers stop sending traffic.
const ANSWERED_WHILE_SHUTTING_DOWN = new Set(['/healthz', '/readyz', '/metrics']);

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function isLoggerInstance(logger: AppDeps['logger']): logger is FastifyBaseLogger {
  return typeof logger === 'object' && logger !== null && typeof (logger as FastifyBaseLogger).child === 'function';
}

function loggerOption(deps: AppDeps): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (deps.logger === undefined) return { loggerInstance: createLogger(deps.config) };
  if (isLoggerInstance(deps.logger)) return { loggerInstance: deps.logger };
  return { logger: deps.logger };
}

// Bodies are JSON only. An empty body is "no body" (the run route's body is optional), bytes that
// are not UTF-8 are refused rather than silently replaced, and parsing is Fastify's own, which
// rejects __proto__ and constructor.prototype keys.
function registerJsonParser(app: App): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) return done(null, undefined);
    if (!isUtf8(bytes)) return done(new MalformedBodyError('the request body is not valid UTF-8'), undefined);
    parseJson(req, bytes.toString('utf8'), done);
  });
}

function registerLifecycleHooks(app: App, deps: AppDeps, control: { shuttingDown: boolean }): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!control.shuttingDown) return;
    reply.header('connection', 'close');
    if (!ANSWERED_WHILE_SHUTTING_DOWN.has(req.routeOptions.url ?? '')) throw new ShuttingDownError();
  });
  // Fastify's own per-request logging is off: at thousands of autosaves a second it would be most
  // of the log. One line per request instead, at debug for the frequent ones (autosaves, polls).
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequest(route, req.method, reply.statusCode);
    const frequent = req.method === 'GET' || req.method === 'HEAD' || (req.method === 'PATCH' && route === '/code-sessions/:session_id');
    const fields = { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ...(req.apiKey ? { key_id: req.apiKey.id } : {}) };
    if (frequent && reply.statusCode < 500) req.log.debug(fields, 'request');
    else req.log.info(fields, 'request');
  });
}

async function registerOpenApi(app: App, auth: AppDeps['config']['auth']): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'codexec',
        version: packageVersion(),
        description:
          'Runs untrusted code for learning platforms: live coding sessions with autosave, asynchronous runs in a sandbox, and ' +
          'their results. Errors are {"error": {"code", "message", "details"?}}.',
      },
      tags: [
        { name: 'sessions', description: 'Live coding sessions and autosave' },
        { name: 'executions', description: 'Runs and their results' },
        { name: 'languages', description: 'Supported languages' },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
    },
    // @fastify/swagger marks every declared body as required; the run's body is optional (the
    // route turns a missing body into {}), and the document should say so.
    transformObject: (doc) => {
      if (!('openapiObject' in doc)) return doc.swaggerObject;
      const run = doc.openapiObject.paths?.['/code-sessions/{session_id}/run']?.post;
      if (run?.requestBody && 'required' in run.requestBody) run.requestBody.required = false;
      return auth === 'keys' ? describeAuth(doc.openapiObject) : doc.openapiObject;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/**
 * Builds the HTTP API (routes, validation, errors, limits, docs). It never listens: the serve
 * command calls listen() and owns shutdown, using `app.codexec.beginShutdown()` first so that new
 * requests get 503 while in-flight ones finish. The dependencies are not closed with the app.
 */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const app = Fastify({
    ...serverOptions(config),
    ...loggerOption(deps),
    logController: new LogController({ disableRequestLogging: true }),
    // Errors raised before routing (a path with bad percent-encoding) get our JSON shape too.
    frameworkErrors: (err, req, reply) => {
      sendError(reply, toCodexecError(err, req, config.maxBodyBytes));
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  const state = { shuttingDown: false };
  const waiter = new ExecutionWaiter(deps.jobs.events);
  const live = new LiveHub(deps.jobs, liveFormat, {
    heartbeatMs: config.eventsHeartbeatMs,
    readerBufferBytes: config.eventsReaderBufferBytes,
    maxReaders: config.eventsMaxReaders,
    onError: (err) => app.log.warn({ err }, 'live output: a read failed; retrying'),
  });
  registerLiveMetrics(deps.metrics.registry, live);
  const control: AppControl = {
    beginShutdown: () => {
      state.shuttingDown = true;
      // Long-polling requests are answered now with what they would have got so far, and event
      // streams end (their clients reconnect, to another instance, with Last-Event-ID).
      waiter.close();
      live.close();
    },
    get shuttingDown() {
      return state.shuttingDown;
    },
  };
  app.decorate('codexec', control);

  app.setValidatorCompiler(typeBoxValidatorCompiler);
  app.setErrorHandler(makeErrorHandler(config.maxBodyBytes));
  app.setNotFoundHandler((req, reply) => sendError(reply, new NotFoundError('route', `${req.method} ${shortPath(req.url)}`)));
  registerJsonParser(app);
  registerLifecycleHooks(app, deps, state);
  // Before every route and every route's own hooks (rate limits key on the authenticated key).
  registerAuth(app, deps);
  deps.metrics.bindQueueStats(() => deps.jobs.stats());

  await registerOpenApi(app, config.auth);
  await registerRateLimits(app, deps.sessions.sharedCounters);

  // Before the server waits for its connections to end: event streams would otherwise hold it open.
  app.addHook('preClose', async () => live.close());

  const ctx: RouteContext = { ...deps, control, waiter, live, runLimit: withKeyRunQuota(createRunLimiter(app, config.rateLimitRunsPerMinute), deps.sessions.sharedCounters) };
  sessionRoutes(app, ctx);
  runRoutes(app, ctx);
  batchRoutes(app, ctx);
  executionRoutes(app, ctx);
  eventRoutes(app, ctx);
  languageRoutes(app, ctx);
  healthRoutes(app, ctx);
  if (config.compat.includes('judge0')) await app.register(judge0Api(ctx), { prefix: '/judge0' });
  if (config.compat.includes('piston')) await app.register(pistonApi(ctx), { prefix: '/api/v2' });
  return app;
}
