import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

// The worker's own /metrics (CODEXEC_WORKER_METRICS_PORT): a worker serves no API, but its
// executors are where executions are counted, so Prometheus scrapes each worker as it scrapes
// each API node. Why not push the counts through the database for the API nodes to show: a
// write per finished run on the hot path, counters that every API node would then report alike
// (double counted by sum()), and histograms to store bucket by bucket; a scrape target per
// process is Prometheus' own model, and costs the queue nothing.
//
// A bare node:http server, not Fastify: two read-only routes, no body, nothing to validate.

export interface MetricsListener {
  /** host:port it listens on. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves GET /metrics (Prometheus text) and GET /healthz on host:port; resolves once listening. */
export async function listenForMetrics(metrics: Metrics, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'method_not_allowed', message: 'GET only' } }));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'route_not_found', message: 'this port serves /metrics and /healthz only' } }));
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'internal_error', message: 'metrics could not be rendered' } })),
    );
  });
  // A scraper's idle keep-alive connection must not hold a shutdown back.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
