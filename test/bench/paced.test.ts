import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pacedLoad } from '../../bench/lib/paced.mjs';

// The benchmarks' open-loop load (bench/lib/paced.mjs) against a real HTTP server on 127.0.0.1.
describe('pacedLoad', () => {
  let server: http.Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('answers every request when the server closes connections the load left idle', async () => {
    // The server closes a connection idle after an answer (its keep-alive timeout: 100 ms, which Node
    // 20 applies about a second late). It holds its answers for the first 300 ms, so the load uses
    // many connections at once; then it answers at once, so the load needs one and leaves the others
    // idle until the server closes them; then it holds its answers again from 2,000 to 2,400 ms, so
    // the load needs many connections again.
    const t0 = Date.now();
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const since = Date.now() - t0;
        const holdUntil = since < 300 ? 300 : since >= 2000 && since < 2400 ? 2400 : since;
        setTimeout(() => res.end('{}'), holdUntil - since);
      });
    });
    server.keepAliveTimeout = 100;
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let closedByServer = 0;
    server.on('connection', (s) => s.on('close', () => closedByServer++));

    const r = await pacedLoad({ port, rate: 100, seconds: 3, connections: 50, next: () => ({ method: 'POST', path: '/', body: '{}' }) });

    expect(closedByServer).toBeGreaterThan(0); // the case under test happened
    expect(r.errors).toBe(0);
    expect(r.answered).toBe(300);
    expect(r.statuses).toEqual({ 200: 300 });
    // Every request was sent at its time: none waited for the 10 s give-up.
    expect(r.latencies[r.latencies.length - 1]).toBeLessThan(3000);
  });

  it('sends a request again once when its connection closes before any byte of an answer', async () => {
    // The keep-alive race, made to happen: the server drops a connection instead of answering its
    // third request (four times), and drops the one request whose path is /lost.
    let dropped = 0;
    server = http.createServer((req, res) => {
      const socket = req.socket as typeof req.socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (req.url === '/lost' || (socket.served === 3 && dropped < 4)) {
        if (req.url !== '/lost') dropped++;
        socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let n = 0;
    const r = await pacedLoad({ port, rate: 200, seconds: 1, connections: 4, next: () => ({ method: 'PATCH', path: ++n === 100 ? '/lost' : '/', body: '{}' }) });
    expect(dropped).toBe(4);
    // The 100th request is lost, sent again (the 101st built), which is answered: /lost is built once.
    expect(r.resent).toBe(5);
    expect(r.errors).toBe(0);
    expect(r.answered).toBe(200);
    expect(r.statuses).toEqual({ 200: 200 });
  });

  it('counts a request lost twice as an error', async () => {
    // A server that drops every connection at its first request: each is sent, lost, sent again, lost.
    server = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const r = await pacedLoad({ port, rate: 20, seconds: 0.5, connections: 2, next: () => ({ method: 'PATCH', path: '/', body: '{}' }) });
    expect(r.answered).toBe(0);
    expect(r.resent).toBe(10);
    expect(r.errors).toBe(10);
  });
});
