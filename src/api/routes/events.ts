import { InvalidRequestError, NotFoundError, TooManyEventStreamsError } from '../../domain/errors.js';
import { parseLastEventId } from '../../live/sse-reader.js';
import type { App, RouteContext } from '../context.js';
import { ExecutionIdParams, errors } from '../schemas/common.js';
import { canSee } from '../ownership.js';
import { EVENTS_DESCRIPTION, EventsHeaders, EventsQuery } from '../schemas/events.js';

// GET /executions/{id}/events: the live output of one execution as Server-Sent Events. This route
// checks the request and hands the connection to the live hub (live/hub.ts), which streams it.

export function eventRoutes(app: App, ctx: RouteContext): void {
  const { jobs, live, config } = ctx;

  app.get(
    '/executions/:execution_id/events',
    {
      schema: {
        tags: ['executions'],
        summary: 'Follow an execution live (Server-Sent Events)',
        description: EVENTS_DESCRIPTION,
        params: ExecutionIdParams,
        headers: EventsHeaders,
        querystring: EventsQuery,
        produces: ['text/event-stream'],
        response: {
          200: { description: 'An event stream (text/event-stream); see the description', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...errors(400, 404, 500, 503),
        },
      },
    },
    async (req, reply) => {
      const id = req.params.execution_id.toLowerCase();
      let cursor;
      try {
        cursor = parseLastEventId(req.headers['last-event-id'] ?? req.query.last_event_id);
      } catch (err) {
        throw new InvalidRequestError((err as Error).message);
      }
      if (live.full) throw new TooManyEventStreamsError(config.eventsMaxReaders);
      const execution = await jobs.get(id);
      if (!execution || !canSee(req, execution)) throw new NotFoundError('execution', req.params.execution_id);
      // The connection's idle timeout must outlast the heartbeats; a reader that stops reading
      // stops the writes too, and is then cut by it (or, sooner, by its buffer's cap).
      const socket = req.raw.socket as { setTimeout?: (ms: number) => unknown } | undefined;
      socket?.setTimeout?.(Math.max(app.server.timeout ?? 0, 2 * config.eventsHeartbeatMs + 5000));
      reply.hijack();
      live.attach(id, reply.raw, cursor);
    },
  );
}
