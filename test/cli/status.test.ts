import fs from 'node:fs';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusView } from '../../src/api/routes/health.js';
import { renderStatus } from '../../src/cli/status.js';
import { startHarness, type Harness } from '../api/harness.js';
import { cleanEnv, codexec, freePort, startServe, tempDir } from './helpers.js';

// `codexec status` against a real `codexec serve` (API only: no root needed) and against the
// database it serves; stale executors and failures come from a harness on its own database.

/** The shape of a JSON value: its keys, recursively (first element for arrays), not its values. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? [] : [shape(v[0])];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return v === null ? 'null' : typeof v;
}

describe('codexec status against a running server', () => {
  let dir: string;
  let env: Record<string, string>;
  let server: ResultPromise;
  let url: string;
  let log: () => string;

  beforeAll(async () => {
    dir = tempDir('codexec-cli-status-');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data'), CODEXEC_EXECUTORS: '0' });
    const started = await startServe(env, port);
    server = started.proc;
    log = started.log;
    // One run, queued for good: this server has no executor.
    const session = await (await fetch(`${url}/code-sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"language":"python"}' })).json();
    expect((await fetch(`${url}/code-sessions/${session.session_id}/run`, { method: 'POST' })).status).toBe(202);
  }, 120_000);

  afterAll(async () => {
    server?.kill('SIGTERM');
    await server;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serve logs at startup its version, executors, isolation, data directory, database and languages', () => {
    const first = log().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('serve started'));
    expect(first).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      executors: 0,
      isolation: 'api_only',
      data_dir: path.join(dir, 'data'),
      database: `local database in ${path.join(dir, 'data')}`,
      languages: expect.arrayContaining(['python']),
    });
    expect(first!.msg).toMatch(/^serve started: codexec \S+, listening on 127\.0\.0\.1:\d+ .*isolation api_only, data in .*, \d+ of \d+ languages available$/);
  });

  it('--json has the shape of GET /status, read locally or through the server', async () => {
    const api = await (await fetch(`${url}/status`)).json();
    const viaServer = JSON.parse((await codexec(['status', '--json', '--server', url], { cwd: dir, env })).stdout);
    const local = JSON.parse((await codexec(['status', '--json'], { cwd: dir, env })).stdout);
    expect(shape(viaServer)).toEqual(shape(api));
    // Locally there is no server: no uptime and no isolation to report (null), the rest alike.
    expect(local.uptime_ms).toBeNull();
    expect(local.isolation).toBeNull();
    expect(shape({ ...local, uptime_ms: 0, isolation: api.isolation })).toEqual(shape(api));
    for (const s of [api, local]) {
      expect(s.counts.QUEUED).toBe(1);
      expect(s.warnings.map((w: { code: string }) => w.code)).toContain('no_live_executor');
    }
    expect(api.isolation.level).toBe('api_only');
  });

  it('as text: version, uptime, isolation, the time, and the warning', async () => {
    const r = await codexec(['status', '--server', url], { cwd: dir, env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^codexec \d+\.\d+\.\d+ · server http:\/\/127\.0\.0\.1:\d+ · up \S+ .*· isolation api_only\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/);
    expect(r.stdout).toContain('warning: 1 execution(s) queued and no executor alive');
  });

  /** `codexec status --watch ...` until it has printed `frames` refreshes (or a minute passed), then Ctrl-C. */
  async function watch(args: string[], frames: RegExp, count: number): Promise<string> {
    const child = codexec(['status', '--watch', '0.5', ...args], { cwd: dir, env, timeout: 60_000 });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    while ((out.match(frames) ?? []).length < count && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    await child;
    return out;
  }

  it('--watch prints the time of every refresh; with --json one line each', async () => {
    const text = await watch([], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/gm, 2);
    expect(text.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/gm)!.length).toBeGreaterThanOrEqual(2);
    expect(text).toContain('(every 0.5 s; Ctrl-C to stop)');
    const json = await watch(['--json'], /^\{.*\}$/gm, 2);
    const lines = json.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { time: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(new Set(lines.map((l) => l.time)).size).toBe(lines.length);
  });
});

describe('stale executors and failures', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { leaseMs: 15_000 } });
  });
  afterAll(async () => {
    await h.close();
  });

  it('an executor silent for more than a lease is marked STALE, not counted alive', async () => {
    const now = Date.now();
    await h.jobs.heartbeat({ id: 'host-a:100:live', hostname: 'host-a', pid: 100, slots: 2, busy: 1, startedAt: now - 60_000, heartbeatAt: now });
    await h.jobs.heartbeat({ id: 'host-b:200:stuck', hostname: 'host-b', pid: 200, slots: 4, busy: 4, startedAt: now - 60_000, heartbeatAt: now - 25_000 });
    // The CLI reads the harness's database as its local one.
    const r = await codexec(['status'], { cwd: h.dir, env: cleanEnv({ CODEXEC_DATA_DIR: h.dir, CODEXEC_LEASE_MS: '15000' }) });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('executors alive: 1 (and 1 stale)');
    expect(r.stdout).toMatch(/host-a:100:live +1\/2 busy +heartbeat [\d.]+ m?s ago\n/); // not STALE
    expect(r.stdout).toMatch(/host-b:200:stuck +4\/4 busy +heartbeat \d+\.\d s ago +STALE/);
    expect(r.stdout).toMatch(/warning: executor host-b:200:stuck has sent no heartbeat for \d+ s/);
  });

  it('failures on codexec\'s side and the programs\' own are listed apart', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    const view = statusView(
      {
        counts: { QUEUED: 0, RUNNING: 0, COMPLETED: 1, FAILED: 2, TIMEOUT: 1 },
        oldestQueuedAgeMs: null,
        executors: [],
        apiNodes: [],
        recentFailures: [
          { id: 'aaaa', finishedAt: now - 5_000, failureReason: 'wall_time_limit' },
          { id: 'bbbb', finishedAt: now - 6_000, failureReason: 'internal_error' },
          { id: 'cccc', finishedAt: now - 7_000, failureReason: 'output_limit' },
        ],
      },
      { version: '9.9.9', now, staleAfterMs: 15_000, uptimeMs: 7_200_000, isolation: { level: 'full', cgroupVersion: 'v2', warnings: [] }, database: 'sqlite' },
    );
    const text = renderStatus(view, 'server http://x:8080');
    expect(text.split('\n')[0]).toBe('codexec 9.9.9 · server http://x:8080 · up 2.0 h · isolation full (cgroup v2)');
    expect(text).toContain('2026-12-04 12:00:00 UTC');
    const platform = text.indexOf('recent failures on codexec\'s side');
    const program = text.indexOf('recent failures of the programs');
    expect(platform).toBeGreaterThan(0);
    expect(program).toBeGreaterThan(platform);
    expect(text.slice(platform, program)).toContain('bbbb  internal_error');
    expect(text.slice(program)).toMatch(/aaaa  wall_time_limit .*\n  cccc  output_limit/);
    expect(text).toContain('warning: 1 of the last 3 failures were on codexec\'s side (internal_error): see the logs');
  });
});
