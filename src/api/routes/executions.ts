import { NotFoundError } from '../../domain/errors.js';
import type { App, RouteContext } from '../context.js';
import { executionView } from '../views.js';
import { ExecutionIdParams, errors } from '../schemas/common.js';
import { ExecutionGetQuery, ExecutionResponse } from '../schemas/executions.js';

export function executionRoutes(app: App, ctx: RouteContext): void {
  const { jobs, languages, waiter } = ctx;

  app.get(
    '/executions/:execution_id',
    {
      schema: {
        tags: ['executions'],
        summary: 'Get an execution and its result',
        description:
          'status is QUEUED, RUNNING, COMPLETED (exited 0), FAILED (exited non-zero, was killed, or could not run: see failure_reason) ' +
          'or TIMEOUT (passed its time limit). While QUEUED or RUNNING, stdout and stderr are empty and result fields are null. ' +
          'With wait_ms, the answer waits (long polling) until the execution is terminal or wait_ms has passed.',
        params: ExecutionIdParams,
        querystring: ExecutionGetQuery,
        response: { 200: ExecutionResponse, ...errors(400, 404, 500, 503) },
      },
    },
    async (req) => {
      const id = req.params.execution_id.toLowerCase();
      const execution = await waiter.wait(req.query.wait_ms ?? 0, () => jobs.get(id));
      if (!execution) throw new NotFoundError('execution', req.params.execution_id);
      return executionView(execution, languages);
    },
  );
}
