import http from 'node:http';
import https from 'node:https';
import { CodexecError } from '../domain/errors.js';

// The CLI's HTTP transport. node:http rather than fetch: fetch refuses the ports browsers block
// (1, 6000, 6667, ...), which a server may well listen on, and its errors arrive as "TypeError:
// fetch failed" with the reason buried in `cause`. Here every failure becomes one short sentence.

/** Longest a request may take; long polls ask the server to answer within a second or two. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpAnswer {
  status: number;
  text: string;
}

const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is `codexec serve` running there?)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
  EPIPE: 'the connection was closed',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
};

/** One sentence for a connection failure: "connection refused", never "Error: connect ECONNREFUSED ...". */
export function describeConnectionError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && CONNECTION_ERRORS[code]) return CONNECTION_ERRORS[code];
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^(\w*Error: )+/, '') || 'unknown error';
}

/**
 * One request with an optional JSON body; resolves with the status and the text of the answer.
 * `apiKey`: sent as `Authorization: Bearer` (a server with CODEXEC_AUTH=keys). Redirects are not
 * followed, so the key never goes to another host than the one named.
 */
export function requestText(base: URL, method: string, path: string, body?: unknown, apiKey = ''): Promise<HttpAnswer> {
  // A server behind a reverse proxy may live under a path prefix (https://host/codexec).
  const url = new URL(base.pathname.replace(/\/$/, '') + path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const unreachable = (reason: string) => reject(new CodexecError('server_unreachable', 503, `cannot reach ${base.origin}: ${reason}`));
    const req = lib.request(
      url,
      {
        method,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(apiKey === '' ? {} : { authorization: `Bearer ${apiKey}` }),
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => unreachable(describeConnectionError(err)));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      unreachable(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    });
    req.on('error', (err) => unreachable(describeConnectionError(err)));
    req.end(payload);
  });
}
