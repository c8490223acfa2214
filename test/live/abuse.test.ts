import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { call } from '../api/harness.js';
import { liveRig, openStream, program, scriptedSandbox, textOf, type LiveRig, type Script } from './helpers.js';

// What many or bad readers cannot do: 1,000 readers of one execution cost one tail and all get the
// same complete stream; a reader that never reads is disconnected once it holds more than its
// buffer, the run and the other readers go on, and the process keeps no more than the cap for it.

async function inline(r: LiveRig, src: string): Promise<string> {
  const res = await call(r.h, 'POST', '/executions/batch', { runs: [{ language: 'python', source_code: src }] });
  expect(res.status, res.body).toBe(200);
  expect(res.json.results[0].status, JSON.stringify(res.json.results[0])).toBe(202);
  return res.json.results[0].execution.execution_id;
}

async function metric(r: LiveRig, name: string): Promise<number> {
  const text = (await call(r.h, 'GET', '/metrics')).body as string;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function until(what: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** GET /executions/{id}/events read `bytesPerTick` at a time, every `tickMs`: a slow but live client. */
function slowReader(base: string, id: string, bytesPerTick: number, tickMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}/executions/${id}/events`, { agent: false }, (res) => {
        res.pause();
        const parts: Buffer[] = [];
        let ended = false;
        res.on('end', () => (ended = true));
        res.on('close', () => (ended = true));
        const timer = setInterval(() => {
          let got: Buffer | null;
          let n = 0;
          while (n < bytesPerTick && (got = res.read() as Buffer | null) !== null) {
            parts.push(got);
            n += got.length;
          }
          if (ended && res.readableLength === 0) {
            clearInterval(timer);
            resolve(Buffer.concat(parts).toString('utf8'));
          }
        }, tickMs);
      })
      .on('error', reject);
  });
}

describe('live output abuse (SQLite, scripted sandbox)', () => {
  let r: LiveRig;
  afterEach(async () => r.close());

  it('1,000 readers of one execution: one tail for all, each gets the whole output and the result', async () => {
    // The executor starts once every reader is there, so all of them see the run from its start.
    r = await liveRig(scriptedSandbox(), { startExecutor: false });
    const lines = Array.from({ length: 20 }, (_, i) => ['stdout', `line ${i}\n`, 25]) as Script['out'];
    const id = await inline(r, program({ out: [['stdout', 'start\n', 0], ...lines] }));
    const streams = await Promise.all(Array.from({ length: 1000 }, () => openStream(r.url, id)));
    expect(streams.every((s) => s.status === 200)).toBe(true);
    expect(await metric(r, 'codexec_event_streams')).toBe(1000);
    expect(await metric(r, 'codexec_event_stream_executions')).toBe(1);
    r.executor.start();
    await Promise.all(streams.map((s) => s.ended));
    const want = `start\n${lines.map((l) => l[1]).join('')}`;
    for (const s of streams) {
      expect(s.events.at(-1)!.event).toBe('result');
      expect(textOf(s.events, 'stdout')).toBe(want);
    }
    // Most of it came as it was printed (rows), not from the stored result at the end.
    expect(streams.filter((s) => s.events.some((e) => e.event === 'output' && /^\d+\.\d+$/.test(e.id ?? ''))).length).toBe(1000);
    await until(async () => (await metric(r, 'codexec_event_streams')) === 0);
    expect(await metric(r, 'codexec_event_streams_dropped_total')).toBe(0);
  }, 60_000);

  it('a reader that never reads is cut off at its buffer cap, then disconnected; the run and the other reader go on', async () => {
    r = await liveRig(scriptedSandbox(), { config: { outputBytes: 8 * 1024 * 1024, eventsReaderBufferBytes: 64 * 1024, eventsHeartbeatMs: 200 } });
    const id = await inline(r, program({ out: [['stdout', `${'x'.repeat(16 * 1024 - 1)}\n`, 2, 512]] }));
    // A client that sends its request and then never reads a byte.
    const stalled = net.connect(Number(new URL(r.url).port), '127.0.0.1');
    let closedByServer = false;
    stalled.on('close', () => (closedByServer = true));
    stalled.on('error', () => undefined);
    await new Promise<void>((res) => stalled.once('connect', () => res()));
    stalled.write(`GET /executions/${id}/events HTTP/1.1\r\nHost: test\r\n\r\n`);
    stalled.pause();
    const good = await openStream(r.url, id);
    await good.ended;
    const last = good.events.at(-1)!;
    expect([last.event, last.data.status, last.data.stdout_truncated]).toEqual(['result', 'COMPLETED', false]);
    expect(textOf(good.events, 'stdout').length).toBe(8 * 1024 * 1024);
    await until(async () => (await metric(r, 'codexec_event_streams_dropped_total')) === 1);
    expect(await metric(r, 'codexec_event_streams')).toBe(0);
    // Reading now: the server ended the stream long before its 8 MiB (whatever the kernel held).
    let received = 0;
    stalled.on('data', (b: Buffer) => (received += b.length));
    stalled.resume();
    await until(async () => closedByServer);
    expect(received).toBeLessThan(8 * 1024 * 1024);
  }, 60_000);

  it('a slow reader that keeps reading is never dropped: it catches up from the stored rows at its own pace', async () => {
    r = await liveRig(scriptedSandbox(), { config: { outputBytes: 2 * 1024 * 1024, eventsReaderBufferBytes: 32 * 1024, eventsHeartbeatMs: 2000 } });
    const id = await inline(r, program({ out: [['stdout', `${'y'.repeat(8 * 1024 - 1)}\n`, 1, 256]] }));
    const text = await slowReader(r.url, id, 64 * 1024, 10);
    const output = text
      .split('\n\n')
      .filter((f) => f.includes('event: output'))
      .map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)).text as string)
      .join('');
    expect(output.length).toBe(2 * 1024 * 1024);
    expect(text).toContain('event: result');
    expect(await metric(r, 'codexec_event_streams_dropped_total')).toBe(0);
  }, 60_000);
});
