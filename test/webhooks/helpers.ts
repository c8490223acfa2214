import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

// A webhook receiver on 127.0.0.1 (the only address the tests send to), recording every request,
// answering as the test says: a status, never (hang), a redirect, or a huge body.

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

export type Behaviour = 'ok' | 'fail' | 'hang' | 'redirect' | 'huge';

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  behaviour: Behaviour;
  /** Bytes of the huge body written before the client went away. */
  hugeWritten: number;
  close(): Promise<void>;
}

export async function startReceiver(behaviour: Behaviour = 'ok'): Promise<Receiver> {
  const sockets = new Set<net.Socket>();
  const r: Receiver = {
    url: '',
    port: 0,
    received: [],
    behaviour,
    hugeWritten: 0,
    close: () =>
      new Promise((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      r.received.push({ headers: req.headers, body, path: req.url ?? '' });
      switch (r.behaviour) {
        case 'ok':
          return res.writeHead(204).end();
        case 'fail':
          return res.writeHead(500).end('broken');
        case 'hang':
          return; // never answers
        case 'redirect':
          return res.writeHead(302, { location: `${r.url}/elsewhere` }).end();
        case 'huge': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(64 * 1024, 0x61);
          const write = () => {
            while (r.hugeWritten < 64 * 1024 * 1024) {
              r.hugeWritten += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', write);
            }
            res.end();
          };
          res.on('close', () => undefined);
          return write();
        }
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}`;
  return r;
}

/** Every TCP connect this process starts, while `fn` runs: what the guard must never let through. */
export async function watchConnects<T>(fn: () => Promise<T>): Promise<{ value: T; connects: string[] }> {
  const connects: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net.connect passes its arguments normalized, as one array.
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const o = first as { host?: string; port?: number } | number;
    connects.push(typeof o === 'object' && o !== null ? `${o.host ?? ''}:${o.port ?? ''}` : String(o));
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  try {
    return { value: await fn(), connects };
  } finally {
    net.Socket.prototype.connect = original;
  }
}
