import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/webhooks/signature.js';
import { cleanEnv, freePort, startServe, tempDir } from '../cli/helpers.js';

// The real `codexec serve` sends the webhook of a finished run: its dispatcher is started with the
// server (the unit tests drive the dispatcher itself). Needs root for the embedded executor.

const isRoot = process.geteuid?.() === 0;
const SECRET = 'a-test-secret-of-32-characters!!';

describe.skipIf(!isRoot)('codexec serve delivers webhooks (needs root)', () => {
  let dir: string;
  let receiver: http.Server;
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let serve: Awaited<ReturnType<typeof startServe>>;
  let port: number;

  beforeAll(async () => {
    dir = tempDir('codexec-webhook-serve-');
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    port = await freePort();
    serve = await startServe(
      cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data'), CODEXEC_EXECUTORS: '1', CODEXEC_WEBHOOK_SECRET: SECRET, CODEXEC_WEBHOOK_ALLOW: '127.0.0.1/32' }),
      port,
    );
  }, 120_000);

  afterAll(async () => {
    serve?.proc.kill('SIGTERM');
    await serve?.proc;
    await new Promise((r) => receiver.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('POSTs the signed result to callback_url once the run ends', async () => {
    const base = `http://127.0.0.1:${port}`;
    const session = (await (await fetch(`${base}/code-sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python', source_code: 'print(6 * 7)' }) })).json()) as { session_id: string };
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const run = (await (await fetch(`${base}/code-sessions/${session.session_id}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callback_url: hook }) })).json()) as { execution_id: string };
    await expect.poll(() => received.length, { timeout: 30_000 }).toBe(1);
    const [got] = received;
    const payload = JSON.parse(got!.body) as { type: string; execution: { execution_id: string; stdout: string; status: string } };
    expect(payload).toMatchObject({ type: 'execution.finished', execution: { execution_id: run.execution_id, status: 'COMPLETED', stdout: '42\n' } });
    expect(verifySignature(SECRET, { signature: got!.headers['x-codexec-signature'] as string, timestamp: got!.headers['x-codexec-timestamp'] as string }, got!.body)).toBe(true);
    const view = (await (await fetch(`${base}/executions/${run.execution_id}`)).json()) as { webhook: { state: string } };
    await expect.poll(async () => ((await (await fetch(`${base}/executions/${run.execution_id}`)).json()) as { webhook: { state: string } }).webhook.state).toBe('delivered');
    expect(view.webhook).toBeDefined();
  }, 60_000);
});
