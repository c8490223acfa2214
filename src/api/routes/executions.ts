import { NotFoundError } from '../../domain/errors.js';
import { cancelExecution } from '../../executions/cancel.js';
import type { App, RouteContext } from '../context.js';
import { executionView } from '../views.js';
import { ExecutionIdParams, errors } from '../schemas/common.js';
import { ExecutionGetQuery, ExecutionResponse, ExecutionWithWebhookResponse } from '../schemas/executions.js';
import { ownerOf } from '../ownership.js';
import { awaitExecution, executionAnswer } from '../long-poll.js';

export function executionRoutes(app: App, ctx: RouteContext): void {
  const { jobs } = ctx;

  app.get(
    '/executions/:execution_id',
    {
      schema: {
        tags: ['executions'],
        summary: 'Get an execution and its result',
        description:
          'status is QUEUED, RUNNING, COMPLETED (exited 0, or every test case ran), FAILED (exited non-zero, was killed, was canceled, or ' +
          'could not run: see failure_reason) or TIMEOUT (passed its time limit). While QUEUED or RUNNING, stdout and stderr are empty and ' +
          'result fields are null. With wait_ms, the answer waits (long polling) until the execution is terminal or wait_ms has passed. ' +
          '`webhook` shows the deliveries of a run with callback_url (null without one).',
        params: ExecutionIdParams,
        querystring: ExecutionGetQuery,
        response: { 200: ExecutionWithWebhookResponse, ...errors(400, 404, 500, 503) },
      },
    },
    async (req) => {
      const id = req.params.execution_id.toLowerCase();
      const execution = await awaitExecution(app, ctx, req, id, req.query.wait_ms ?? 0);
      if (!execution) throw new NotFoundError('execution', req.params.execution_id);
      return executionAnswer(ctx, execution);
    },
  );

  app.post(
    '/executions/:execution_id/cancel',
    {
      schema: {
        tags: ['executions'],
        summary: 'Cancel an execution',
        description:
          'A QUEUED execution ends at once: FAILED with failure_reason `canceled` (200). A RUNNING one has its whole process tree killed ' +
          'within moments wherever it runs (202, cancel_requested: true; GET it to see it end FAILED/canceled, or COMPLETED if it finished ' +
          'first). Idempotent: canceling a canceled execution answers 200 again. An execution that ended otherwise: 409 execution_finished.',
        params: ExecutionIdParams,
        response: { 200: ExecutionResponse, 202: ExecutionResponse, ...errors(400, 404, 409, 500, 503) },
      },
    },
    async (req, reply) => {
      const id = req.params.execution_id.toLowerCase();
      const { execution, pending } = await cancelExecution(jobs, id, ownerOf(req));
      req.log.info({ execution_id: id, status: execution.status, pending }, 'execution cancel');
      return reply.code(pending ? 202 : 200).send(executionView(execution));
    },
  );
}
