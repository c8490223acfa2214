import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type Options, type ResultPromise } from 'execa';

// The real `codexec` executable (bin/codexec -> dist/), as an instructor runs it.
export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'codexec');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Environment of a clean machine: no CODEXEC_* but what the test gives. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...extra };
}

export function codexec(args: string[], opts: { cwd: string; env: Record<string, string>; input?: string; timeout?: number } & Partial<Options>) {
  const { env, ...rest } = opts;
  // The options a caller adds never change the output's type (no encoding or lines options here).
  return execa(process.execPath, [BIN, ...args], { env, extendEnv: false, reject: false, timeout: 60_000, stripFinalNewline: false, ...rest }) as ResultPromise<{ reject: false; stripFinalNewline: false }>;
}

/** A TCP port nobody listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export const freePort = closedPort;

/**
 * A stand-in for the API, for what `codexec run` shows while it waits (the client's display and
 * signals are under test, not the server): python is the only language; an execution stays
 * RUNNING for `runningMs` (forever when null), then COMPLETES with "Hello World".
 */
export async function fakeServer(runningMs: number | null): Promise<{ url: string; canceled(): number; close(): Promise<void> }> {
  let started = 0;
  let canceled = 0;
  const execution = (status: string) => ({
    execution_id: '00000000-0000-4000-8000-000000000001',
    session_id: '00000000-0000-4000-8000-000000000002',
    language: 'python',
    status,
    stdout: status === 'COMPLETED' ? 'Hello World\n' : '',
    stderr: '',
    exit_code: status === 'COMPLETED' ? 0 : null,
    signal: null,
    failure_reason: null,
    verdict: null,
    feedback: status === 'COMPLETED' ? 'Ran successfully in 12 ms.' : null,
    execution_time_ms: status === 'COMPLETED' ? 12 : null,
    cpu_time_ms: null,
    memory_peak_kb: null,
    compile_output: null,
    compile_time_ms: null,
  });
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (req.url === '/languages') return send(200, [{ id: 'python', name: 'Python 3', version: '3', available: true, extensions: ['.py'] }]);
      if (req.method === 'POST' && req.url === '/code-sessions') return send(201, { session_id: '00000000-0000-4000-8000-000000000002' });
      if (req.method === 'POST' && req.url?.endsWith('/run')) {
        started = Date.now();
        return send(202, { execution_id: '00000000-0000-4000-8000-000000000001', status: 'QUEUED' });
      }
      if (req.method === 'POST' && req.url?.endsWith('/cancel')) {
        canceled += 1;
        return send(202, execution('RUNNING'));
      }
      if (req.url?.startsWith('/executions/')) {
        const done = runningMs !== null && Date.now() - started >= runningMs;
        // Like the real long poll: an answer within a short wait.
        return setTimeout(() => send(200, execution(done ? 'COMPLETED' : 'RUNNING')), done ? 0 : 100);
      }
      send(404, { error: { code: 'route_not_found', message: 'no route' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** How many POST /executions/{id}/cancel it received. */
    canceled: () => canceled,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Whether util-linux `script` is here (a pseudo-terminal for the spinner tests). */
export const hasScript = fs.existsSync('/usr/bin/script') || fs.existsSync('/bin/script');

/**
 * `codexec serve` on 127.0.0.1:`port` with `env`, once /readyz answers 200. Startup probes every
 * language's version (the JVM alone takes seconds on a busy machine): allow it a minute.
 */
export async function startServe(env: Record<string, string>, port: number): Promise<{ proc: ResultPromise; log: () => string }> {
  let log = '';
  const proc = execa(process.execPath, [BIN, 'serve'], { env: { ...env, CODEXEC_PORT: String(port), CODEXEC_HOST: '127.0.0.1' }, extendEnv: false, reject: false });
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return { proc, log: () => log };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  proc.kill('SIGKILL');
  await proc;
  throw new Error(`codexec serve did not become ready:\n${log}`);
}
