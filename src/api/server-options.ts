import type http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyHttpOptions } from 'fastify';
import type { Config } from '../config/schema.js';
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

/** Largest request line plus headers (Node's default, stated here so it is visible). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Longest path parameter the router accepts; ids are 36-character UUIDs. */
export const MAX_PARAM_LENGTH = 200;

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  request_timeout: 'the request was not received in time',
  headers_too_large: `the request line and headers exceed ${MAX_HEADER_BYTES} bytes`,
  bad_request: 'the request is not valid HTTP',
};

// Connection-level errors happen before Fastify has a request (a header section too large, a
// request too slow to arrive, garbage bytes). Node's default answer is a bare status line; this one
// carries the same JSON error shape as every other response.
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
  const { status } = ERROR_CODES[code];
  const body = JSON.stringify({ error: { code, message: MESSAGES[code] } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${code.replace(/_/g, ' ')}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * The Fastify server options that come from configuration: request and connection limits.
 * buildApp passes them to Fastify; the HTTP server therefore enforces them once it listens.
 */
export function serverOptions(
  config: Pick<Config, 'maxBodyBytes' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'>,
): FastifyHttpOptions<http.Server> {
  return {
    bodyLimit: config.maxBodyBytes,
    // Time to receive a request's headers (Node answers 408 through clientErrorHandler). Node
    // does not apply it to a body still arriving, so a connection silent for twice as long is
    // closed too (twice: the 408 must win the race for stalled headers): a client that stalls
    // cannot hold a connection and a parser open.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: 2 * config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Node checks for requests past their timeout every connectionsCheckingInterval (default
    // 30 s); check often enough that the timeout means what it says.
    http: { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs) },
    clientErrorHandler,
    // During close() our own onRequest hook (beginShutdown) answers 503 shutting_down in the API's
    // error shape with Retry-After; Fastify's built-in 503 has neither.
    return503OnClosing: false,
  };
}
