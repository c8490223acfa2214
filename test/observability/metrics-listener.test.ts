import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import { listenForMetrics, type MetricsListener } from '../../src/observability/metrics-listener.js';

// The worker's own /metrics (CODEXEC_WORKER_METRICS_PORT), on a real port of 127.0.0.1.
describe('listenForMetrics', () => {
  let listener: MetricsListener | null = null;
  afterEach(async () => {
    await listener?.close();
    listener = null;
  });

  it('serves this process\'s counters on /metrics and ok on /healthz; nothing else', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setExecutors(1, 3);
    metrics.observeFinished('COMPLETED', null, 5, 50);
    listener = await listenForMetrics(metrics, '127.0.0.1', 0);
    expect(listener.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const base = `http://${listener.address}`;
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('codexec_executors{state="busy",scope="process"} 1');
    expect(text).toContain('codexec_executions_total{outcome="completed"} 1');
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const other = await fetch(`${base}/status`);
    expect(other.status).toBe(404);
    expect((await other.json()).error.code).toBe('route_not_found');
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('a port already taken is an error at once (the worker then does not start)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(listenForMetrics(new Metrics({ defaultMetrics: false }), '127.0.0.1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      blocker.close();
    }
  });
});
