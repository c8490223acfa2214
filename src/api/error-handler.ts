import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  CodexecError,
  InternalError,
  InvalidRequestError,
  MalformedBodyError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../domain/errors.js';
import type { ErrorResponse } from './schemas/common.js';
import type { ValidationProblem } from './validation.js';

/** The JSON body of an error response. */
export function errorBody(err: CodexecError): ErrorResponse {
  return { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
}

type FrameworkError = FastifyError & { validation?: ValidationProblem[]; validationContext?: string };

// Which resource an id parameter names, for the 404 of an id that is not a UUID.
const ID_PARAMS: Record<string, 'session' | 'execution'> = { session_id: 'session', execution_id: 'execution' };

function resourceOfUrl(url: string): 'session' | 'execution' | 'route' {
  if (url.startsWith('/code-sessions/')) return 'session';
  if (url.startsWith('/executions/')) return 'execution';
  return 'route';
}

/** A request path for a message: at most about 60 characters, saying how long it was when cut. */
export function shortPath(url: string): string {
  const p = url.split('?')[0];
  return p.length <= 60 ? p : `${p.slice(0, 40)}… (a path of ${p.length} characters)`;
}

/** A schema validation failure as a client error: an id that is not a UUID is an unknown id (404). */
function fromValidation(err: FrameworkError, req: FastifyRequest): CodexecError {
  const problem = err.validation?.[0];
  const where = err.validationContext ?? 'request';
  const pointer = problem?.instancePath ?? '';
  if (where === 'params') {
    const name = pointer.replace(/^\//, '');
    const params = (req.params ?? {}) as Record<string, unknown>;
    const what = ID_PARAMS[name];
    if (what) return new NotFoundError(what, String(params[name] ?? '').slice(0, 100));
  }
  const field = pointer === '' ? where : `${where}${pointer.replace(/\//g, '.')}`;
  return new InvalidRequestError(`${field}: ${problem?.message ?? 'invalid value'}`, { location: where, path: pointer });
}

/**
 * Turns anything thrown into our error: CodexecErrors as they are, Fastify's own client errors
 * (validation, body parsing, size) into stable codes, and everything else into a bare 500 whose
 * cause is logged, never sent.
 */
export function toCodexecError(raw: unknown, req: FastifyRequest, maxBodyBytes: number): CodexecError {
  if (raw instanceof CodexecError) return raw;
  const err = raw as FrameworkError;
  if (err?.validation) return fromValidation(err, req);
  switch (err?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('body_too_large', maxBodyBytes);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new MalformedBodyError();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new MalformedBodyError('the request body is empty but its content type is application/json');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError(String(req.headers['content-type'] ?? ''));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError('Content-Length does not match the body');
    case 'FST_ERR_BAD_URL':
      return new InvalidRequestError('the URL is not valid (bad percent-encoding)');
    case 'FST_ERR_MAX_PARAM_LENGTH': {
      // An id too long for the router is not a UUID either: unknown, like any other such id.
      const what = resourceOfUrl(req.url);
      if (what === 'route') return new NotFoundError('route', `${req.method} ${shortPath(req.url)}`);
      const id = req.url.split('?')[0].split('/')[2] ?? '';
      return new CodexecError(`${what}_not_found`, 404, `no ${what} with this id (${id.length} characters; ids are 36-character UUIDs)`);
    }
  }
  // Other Fastify client errors (4xx) carry safe messages of their own.
  const status = typeof err?.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500 && typeof err?.message === 'string') return new CodexecError('invalid_request', status, err.message);
  return new InternalError();
}

export function sendError(reply: FastifyReply, err: CodexecError): FastifyReply {
  if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  return reply.code(err.statusCode).send(errorBody(err));
}

/** Fastify's error handler: one place where errors become responses. */
export function makeErrorHandler(maxBodyBytes: number) {
  return function handleError(raw: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const err = toCodexecError(raw, req, maxBodyBytes);
    if (err.code === 'internal_error') {
      req.log.error({ err: raw, route: req.routeOptions.url }, 'request failed');
    } else if (err.statusCode >= 500) {
      req.log.warn({ code: err.code, route: req.routeOptions.url }, err.message);
    }
    return sendError(reply, err);
  };
}
