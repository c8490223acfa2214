import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Target } from './resolve.js';

// One webhook attempt: a POST to the address resolve.ts checked, with a deadline on the whole of
// it (connect, send, response headers), at most MAX_RESPONSE_BYTES of the response read, no
// redirect followed (Node's client follows none; a 3xx is not a delivery), and a connection of
// its own (no agent: nothing is reused between attempts or receivers).

export const MAX_RESPONSE_BYTES = 64 * 1024;

export interface PostResult {
  statusCode: number;
}

export class DeliveryError extends Error {
  constructor(
    readonly kind: 'timeout' | 'connection',
    message: string,
  ) {
    super(message);
  }
}

export function postWebhook(url: URL, target: Target, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostResult> {
  // The socket connects to the checked address, never to a fresh lookup of the name.
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
    else cb(null, target.address, target.family);
  };
  const secure = url.protocol === 'https:';
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, r?: PostResult) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(r!);
    };
    const req = (secure ? https : http).request({
      method: 'POST',
      protocol: url.protocol,
      hostname,
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      headers: { ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) },
      agent: false,
      lookup,
      // TLS checks the certificate against the name in the URL (SNI is for names, not addresses).
      ...(secure && isIP(hostname) === 0 ? { servername: hostname } : {}),
    });
    // One deadline for all of it, the response's body included: a receiver that answers, then
    // trickles its body forever, is cut at the same time as one that never answers.
    const deadline = setTimeout(() => {
      done(new DeliveryError('timeout', `no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('response', (res) => {
      // The status is the answer; the body is read (to let the receiver finish) up to the cap.
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on('error', () => undefined);
      res.on('close', () => req.destroy());
      done(null, { statusCode: res.statusCode ?? 0 });
    });
    req.on('error', (err) => done(new DeliveryError('connection', `connection failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    req.end(body);
  });
}
