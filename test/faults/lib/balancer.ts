import http from 'node:http';
import net from 'node:net';

// A round-robin TCP load balancer on 127.0.0.1, as HAProxy's `balance roundrobin` in TCP mode:
// each accepted connection goes to the next backend, in accept order, and its bytes are copied
// both ways untouched. It records which backend served each connection (by the client's port),
// so a test can say which node answered each request.

export class RoundRobinBalancer {
  private next = 0;
  private readonly byClientPort = new Map<number, number>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(backendPorts: number[]): Promise<RoundRobinBalancer> {
    let lb: RoundRobinBalancer | null = null;
    const server = net.createServer((client) => lb!.accept(client, backendPorts));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    lb = new RoundRobinBalancer(server, (server.address() as net.AddressInfo).port);
    return lb;
  }

  private accept(client: net.Socket, backendPorts: number[]): void {
    const index = this.next++ % backendPorts.length;
    this.byClientPort.set(client.remotePort!, index);
    const upstream = net.connect(backendPorts[index]!, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      // A backend that dies (kill -9) resets its connections: the client sees its request fail.
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Which backend (index in the list given to start) served the connection from this client port. */
  backendOf(clientPort: number): number | undefined {
    return this.byClientPort.get(clientPort);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The backend that served it. */
  node: number;
}

/**
 * HTTP through the balancer, one connection per request (no keep-alive), opened strictly one
 * after the other: the k-th request of the test goes to backend k mod n, whatever the
 * concurrency of the requests themselves.
 */
export class BalancedClient {
  private opening: Promise<void> = Promise.resolve();

  constructor(private readonly lb: RoundRobinBalancer) {}

  request(method: string, path: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const previous = this.opening;
    let connected!: () => void;
    this.opening = new Promise<void>((r) => (connected = r));
    return previous.then(
      () =>
        new Promise<Answer>((resolve, reject) => {
          let localPort = 0;
          const req = http.request(
            {
              host: '127.0.0.1',
              port: this.lb.port,
              method,
              path,
              agent: false,
              headers: { connection: 'close', ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let parsed: unknown = text;
                try {
                  parsed = JSON.parse(text);
                } catch {
                  // not JSON
                }
                resolve({ status: res.statusCode!, body: parsed, node: this.lb.backendOf(localPort) ?? -1 });
              });
              res.on('error', reject);
            },
          );
          req.on('socket', (s) =>
            s.once('connect', () => {
              localPort = s.localPort!;
              connected();
            }),
          );
          req.on('error', (err) => {
            connected();
            reject(err);
          });
          req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
          req.end(payload ?? undefined);
        }),
    );
  }
}
