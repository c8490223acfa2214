import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CodexecError } from '../../domain/errors.js';
import { toCodexecError } from '../error-handler.js';
import type { App } from '../context.js';

// Errors of the compatible APIs come in the shape their clients parse (Judge0: {"error": "..."},
// or {"field": ["..."]} for a field's problem; Piston: {"message": "..."}), made from the same
// CodexecError as everywhere else: same status, and codexec's stable code in a header.

export const ERROR_CODE_HEADER = 'codexec-error-code';

/** An error as one compatible API shows it. */
export type ErrorBody = (err: CodexecError) => Record<string, unknown>;

/** The request field an error is about, when it is about one. */
export function fieldOf(err: CodexecError): string | null {
  const d = err.details ?? {};
  if (typeof d.field === 'string') return d.field;
  if (err.code === 'invalid_request' && d.location === 'body' && typeof d.path === 'string' && d.path !== '') {
    return d.path.replace(/^\//, '').split('/')[0] ?? null;
  }
  return null;
}

/** The message without its leading "field: ", for a body that names the field itself. */
export function messageOf(err: CodexecError, field: string | null): string {
  const prefixes = field === null ? [] : [`${field}: `, `body.${field}: `];
  for (const p of prefixes) if (err.message.startsWith(p)) return err.message.slice(p.length);
  return err.message;
}

/** Sends `err` in the API's shape, with Retry-After and the stable code as headers. */
export function sendDialectError(reply: FastifyReply, err: CodexecError, body: ErrorBody): FastifyReply {
  if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  reply.header(ERROR_CODE_HEADER, err.code);
  return reply.code(err.statusCode).send(body(err));
}

/** The error handler of one compatible API's scope: error-handler.ts's rules, the API's body. */
export function useDialectErrors(scope: App, maxBodyBytes: number, body: ErrorBody): void {
  scope.setErrorHandler((raw: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const err = toCodexecError(raw, req, maxBodyBytes);
    if (err.code === 'internal_error') req.log.error({ err: raw, route: req.routeOptions.url }, 'request failed');
    else if (err.statusCode >= 500) req.log.warn({ code: err.code, route: req.routeOptions.url }, err.message);
    return sendDialectError(reply, err, body);
  });
}
