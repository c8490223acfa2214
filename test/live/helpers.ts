import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import type { AddressInfo } from 'node:net';
import { Executor } from '../../src/executor/executor.js';
import type { SandboxRequest, SandboxResult, SandboxRunner } from '../../src/executor/sandbox-port.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { CappedOutput, decodeOutput } from '../../src/sandbox/output.js';
import { startHarness, type Harness, type HarnessOptions } from '../api/harness.js';

// Live output end to end without the real sandbox: a SandboxRunner that plays the chunk sequence
// the source code names, through the sandbox's own output caps (sandbox/output.ts), passing the
// kept bytes to onOutput as the real one does, and returning the result those bytes make. The
// program is JSON: {"out": [[stream, text | {hex}, delayMs, times?], ...], "exit": code}; "$STDIN"
// in a text is the case's stdin.

export interface Script {
  out: [stream: 'stdout' | 'stderr', data: string | { hex: string }, delayMs: number, times?: number][];
  exit?: number;
}

export const program = (s: Script): string => JSON.stringify(s);

export function scriptedSandbox(): SandboxRunner & { runs: number } {
  const self = {
    runs: 0,
    async run(req: SandboxRequest): Promise<SandboxResult> {
      self.runs++;
      const script = JSON.parse(req.files[0]!.content.toString('utf8')) as Script;
      const limits = req.plan.run.limits;
      const streams = { stdout: new CappedOutput(limits.stdoutBytes, Infinity, () => {}), stderr: new CappedOutput(limits.stderrBytes, Infinity, () => {}) };
      const started = Date.now();
      for (const [stream, data, delayMs, times] of script.out) {
        for (let n = 0; n < (times ?? 1); n++) {
          if (req.signal?.aborted) break;
          if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
          const bytes = typeof data === 'string' ? Buffer.from(data.replaceAll('$STDIN', req.stdin), 'utf8') : Buffer.from(data.hex, 'hex');
          const kept = streams[stream].push(bytes);
          if (kept.length > 0) req.onOutput?.(stream, kept);
        }
      }
      const out = decodeOutput(streams.stdout.bytes(), streams.stdout.truncated);
      const err = decodeOutput(streams.stderr.bytes(), streams.stderr.truncated);
      const exit = script.exit ?? 0;
      return {
        kind: exit === 0 ? 'completed' : 'runtime_error',
        exitCode: exit,
        signal: null,
        stdout: out.text,
        stderr: err.text,
        stdoutTruncated: streams.stdout.truncated,
        stderrTruncated: streams.stderr.truncated,
        outputNotUtf8: out.notUtf8 || err.notUtf8,
        executionTimeMs: Date.now() - started,
        cpuTimeMs: 1,
        memoryPeakKb: 1000,
        warnings: [],
        artifacts: null,
        seccompDigest: 'test',
      };
    },
    async close() {},
  };
  return self;
}

export const quiet = pino({ level: 'silent' });

export interface LiveRig {
  h: Harness;
  url: string;
  /** The executor's own queue connection: what it writes reaches the API as from another process. */
  execStore: JobQueue;
  executor: Executor;
  close(): Promise<void>;
}

/** The real app, listening on 127.0.0.1, and an executor on a queue connection of its own. */
export async function liveRig(
  sandbox: SandboxRunner,
  opts: HarnessOptions & { slots?: number; execStore?: JobQueue; startExecutor?: boolean } = {},
): Promise<LiveRig> {
  const h = await startHarness({ ...opts, config: { sessionMaxInFlight: 100, rateLimitRunsPerMinute: 0, ...opts.config } });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  const execStore = opts.execStore ?? openSqliteQueue(path.join(h.dir, 'codexec.db'));
  const executor = new Executor({ store: execStore, sandbox, logger: quiet, slots: opts.slots ?? 2, leaseMs: 10_000, retryBaseMs: 10 });
  if (opts.startExecutor !== false) executor.start();
  return {
    h,
    url,
    execStore,
    executor,
    async close() {
      await executor.stop(2000);
      await execStore.close();
      await h.close();
    },
  };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export interface SseStream {
  status: number;
  events: SseEvent[];
  comments: number;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Resolves when an event of this name arrives (or has). */
  next(name: string): Promise<SseEvent>;
  close(): void;
}

/** Opens GET /executions/{id}/events and parses its frames as they come. */
export function openStream(base: string, id: string, headers: Record<string, string> = {}, query = ''): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/executions/${id}/events${query}`, { headers, agent: false }, (res) => {
      const events: SseEvent[] = [];
      const waiters: { name: string; resolve: (e: SseEvent) => void }[] = [];
      let buf = '';
      let endResolve!: () => void;
      const stream: SseStream = {
        status: res.statusCode ?? 0,
        events,
        comments: 0,
        ended: new Promise<void>((r) => (endResolve = r)),
        next(name) {
          const seen = events.find((e) => e.event === name);
          if (seen) return Promise.resolve(seen);
          return new Promise((r) => waiters.push({ name, resolve: r }));
        },
        close: () => req.destroy(),
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: Partial<SseEvent> & { lines: string[] } = { lines: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments++;
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.lines.push(line.slice(6));
          }
          if (!ev.event) continue;
          const e: SseEvent = { id: ev.id, event: ev.event, data: JSON.parse(ev.lines.join('\n')) };
          events.push(e);
          for (const w of waiters.filter((w) => w.name === e.event)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      });
      res.on('end', () => endResolve());
      res.on('close', () => endResolve());
      res.on('error', () => endResolve());
      if ((res.statusCode ?? 0) !== 200) {
        let body = '';
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(Object.assign(stream, { body })));
        return;
      }
      resolve(stream);
    });
    req.on('error', reject);
  });
}

/** stdout text of a stream's output events (one case, or the single run). */
export function textOf(events: SseEvent[], stream: 'stdout' | 'stderr', caseIndex: number | null = null): string {
  return events
    .filter((e) => e.event === 'output' && e.data.stream === stream && e.data.case === caseIndex)
    .map((e) => e.data.text as string)
    .join('');
}
