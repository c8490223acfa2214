import net from 'node:net';

// A TCP proxy on loopback in front of the test PostgreSQL server, for outages: cut() drops every
// connection and refuses new ones (a restart, a failover, the network), restore() accepts again on
// the same port. The outage tests of the job queue and of the session store share it.

export interface Proxy {
  readonly port: number;
  /** A copy of `url` that connects through the proxy. */
  url(url: string): string;
  /** Drops every connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
}

export async function startProxy(target: URL): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        const drop = (): void => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('error', drop);
          sock.on('close', drop);
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    url(url: string) {
      const u = new URL(url);
      u.host = `127.0.0.1:${port}`;
      return u.toString();
    },
    async cut() {
      for (const sock of [...sockets]) sock.destroy();
      const s = server;
      server = null;
      if (s) await new Promise((r) => s.close(r));
    },
    restore: listen,
  };
}
