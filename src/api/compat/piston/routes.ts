import { isUtf8 } from 'node:buffer';
import { MalformedBodyError, ResultWaitTimeoutError, ShuttingDownError, type CodexecError } from '../../../domain/errors.js';
import { isTerminal } from '../../../domain/states.js';
import type { App, RouteContext } from '../../context.js';
import { useDialectErrors } from '../errors.js';
import { CompatRuns, waitBoundMs } from '../runs.js';
import { pistonRun } from './request.js';
import { pistonAnswer } from './response.js';
import { pistonRuntimes } from './runtimes.js';
import { ExecuteBody, ExecuteResponse, PistonError, RuntimeList } from './schemas.js';

// The Piston v2 subset, under /api/v2 (a self-hosted Piston's paths) and /api/v2/piston (the
// public instance's, which some clients have built in). Execute is synchronous: the run goes
// through the one submit path and the answer waits on the queue for its result, at most the run's
// limits plus 30 s (../runs.ts). Past that, or when the client hangs up, the run is canceled:
// nobody could read its result, since Piston has no id to ask for it later.

const TAGS = ['piston'];
const errorResponses = Object.fromEntries([400, 413, 415, 422, 429, 500, 503, 504].map((s) => [s, PistonError]));

export const pistonErrorBody = (err: CodexecError): Record<string, unknown> => ({ message: err.message });

// The npm piston-client posts its JSON with node-fetch's default type for a string body,
// text/plain: this scope reads such a body as JSON too (UTF-8, and Fastify's own JSON parser,
// which refuses __proto__ keys). Everywhere else a body must be application/json.
function acceptJsonAsTextPlain(scope: App): void {
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser('text/plain', { parseAs: 'buffer' }, (req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) return done(null, undefined);
    if (!isUtf8(bytes)) return done(new MalformedBodyError('the request body is not valid UTF-8'), undefined);
    parseJson(req, bytes.toString('utf8'), done);
  });
}

function routes(app: App, ctx: RouteContext, runs: CompatRuns, hide: boolean): void {
  const { languages, control } = ctx;

  app.get(
    '/runtimes',
    { schema: { hide, tags: TAGS, summary: 'Runtimes (Piston)', description: 'The languages installed here, with their versions.', response: { 200: RuntimeList } } },
    async () => pistonRuntimes(languages),
  );

  app.post(
    '/execute',
    {
      schema: {
        hide,
        tags: TAGS,
        summary: 'Run a program and answer with its result (Piston)',
        description:
          'Waits for the result at most the run\'s compile and run limits plus 30 s; past that the run is canceled and the answer is ' +
          '504 result_wait_timeout (the run is canceled too when the client hangs up). One file; args are passed to the program. ' +
          'Fields and limits codexec cannot honour are refused (422). Counts against CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE.',
        body: ExecuteBody,
        response: { 200: ExecuteResponse, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { submission } = pistonRun(req.body, languages);
      await runs.charge(req, 1);
      const { execution } = await runs.submit(req, submission);
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort();
      };
      reply.raw.once('close', onClose);
      gone.signal.addEventListener('abort', () => void runs.abandon(req, execution.id, 'client closed the connection').catch(() => undefined));
      try {
        const bound = waitBoundMs(execution.plan);
        const done = await runs.wait(req, execution.id, bound, gone.signal);
        if (isTerminal(done.status) && !gone.signal.aborted) return pistonAnswer(done);
        if (!gone.signal.aborted) await runs.abandon(req, execution.id, control.shuttingDown ? 'server shutting down' : 'wait bound passed');
        throw control.shuttingDown ? new ShuttingDownError() : new ResultWaitTimeoutError(bound);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );
}

/** The Piston API's plugin, registered under /api/v2 (and again, hidden from OpenAPI, under /api/v2/piston). */
export function pistonApi(ctx: RouteContext) {
  return async (scope: App): Promise<void> => {
    useDialectErrors(scope, ctx.config.maxBodyBytes, pistonErrorBody);
    acceptJsonAsTextPlain(scope);
    const runs = new CompatRuns(scope, ctx, 'piston');
    routes(scope, ctx, runs, false);
    await scope.register(async (child: App) => routes(child, ctx, runs, true), { prefix: '/piston' });
  };
}
