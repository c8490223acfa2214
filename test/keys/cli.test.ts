import fs from 'node:fs';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_PATTERN } from '../../src/keys/api-key.js';
import { cleanEnv, codexec, freePort, startServe, tempDir } from '../cli/helpers.js';
import { createSchema, describePostgres } from '../queue/postgres-helpers.js';

// `codexec keys create | list | revoke` through the real binary (`npm run build` first), and a
// real `codexec serve` with CODEXEC_AUTH=keys that `codexec run --server` and `codexec status
// --server` reach with CODEXEC_API_KEY. Runs need the sandbox: as root, the server has an
// executor and the run's output is checked; otherwise the run is only submitted.

const isRoot = process.geteuid?.() === 0;

/** The real binary, its output as text. */
async function cli(args: string[], opts: Parameters<typeof codexec>[1]): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const r = await codexec(args, opts);
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

describe('codexec keys', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = tempDir('codexec-keys-cli-');
    env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data') });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('create prints the key alone on stdout, once; the summary goes to stderr', async () => {
    const r = await cli(['keys', 'create', '--name', 'platform', '--runs-per-minute', '600', '--in-flight', '20', '--sessions', '500'], { cwd: dir, env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^cdx_[A-Za-z0-9]{43}\n$/);
    expect(r.stderr).toMatch(/^Made API key key_[0-9a-f]{12} \("platform"; runs per minute: 600, executions in flight: 20, sessions open: 500\)\./);
    expect(r.stderr).not.toContain(r.stdout.trim());
    const list = await cli(['keys', 'list'], { cwd: dir, env });
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toContain(r.stdout.slice(0, 12));
    expect(list.stdout).not.toContain(r.stdout.trim().slice(12));
    expect(list.stdout).toMatch(/platform +cdx_\w{8} .* 600 +20 +500 +active/);
    const json = JSON.parse((await cli(['keys', 'list', '--json'], { cwd: dir, env })).stdout);
    expect(json).toEqual([
      expect.objectContaining({ name: 'platform', prefix: r.stdout.slice(0, 12), revoked_at: null, quotas: { runs_per_minute: 600, executions_in_flight: 20, sessions: 500 } }),
    ]);
    expect(JSON.stringify(json)).not.toContain(r.stdout.trim().slice(12));
  });

  it('revoke by prefix or id; again is harmless; an unknown one is exit 1, a bad flag exit 2', async () => {
    const secret = (await cli(['keys', 'create', '--name', 'to revoke'], { cwd: dir, env })).stdout.trim();
    const r = await cli(['keys', 'revoke', secret.slice(0, 12)], { cwd: dir, env });
    expect(r.exitCode).toBe(0);
    const id = /Revoked (key_[0-9a-f]{12})/.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await cli(['keys', 'revoke', id!], { cwd: dir, env })).exitCode).toBe(0);
    expect((await cli(['keys', 'list'], { cwd: dir, env })).stdout).toMatch(/to revoke .* revoked \d{4}-/);
    const unknown = await cli(['keys', 'revoke', 'key_ffffffffffff'], { cwd: dir, env });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/^codexec: no API key has the id or prefix "key_ffffffffffff"/);
    for (const args of [['--name', 'x', '--sessions', '0'], ['--name', 'x', '--in-flight', 'many'], ['--name', ''], []]) {
      const bad = await cli(['keys', 'create', ...args], { cwd: dir, env });
      expect(bad.exitCode, args.join(' ')).toBe(2);
      expect(bad.stdout).toBe('');
    }
  });

  it('an invalid CODEXEC_API_KEY is refused at startup without being printed', async () => {
    const wrong = `cdx_${'Q'.repeat(40)}`;
    const r = await cli(['status'], { cwd: dir, env: { ...env, CODEXEC_API_KEY: wrong } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('CODEXEC_API_KEY');
    expect(r.stderr).not.toContain('QQQQ');
  });
});

describePostgres('codexec keys on PostgreSQL', () => {
  it('create, list and revoke work on CODEXEC_DATABASE_URL', async () => {
    const schema = await createSchema();
    const dir = tempDir('codexec-keys-cli-pg-');
    try {
      const env = cleanEnv({ CODEXEC_DATA_DIR: dir, CODEXEC_DATABASE_URL: schema.url });
      const secret = (await cli(['keys', 'create', '--name', 'pg'], { cwd: dir, env })).stdout.trim();
      expect(secret).toMatch(KEY_PATTERN);
      expect((await cli(['keys', 'list'], { cwd: dir, env })).stdout).toContain(secret.slice(0, 12));
      expect((await cli(['keys', 'revoke', secret], { cwd: dir, env })).exitCode).toBe(0);
    } finally {
      await schema.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a real serve with CODEXEC_AUTH=keys', () => {
  let dir: string;
  let env: Record<string, string>;
  let server: ResultPromise;
  let url: string;
  let secret: string;

  beforeAll(async () => {
    dir = tempDir('codexec-keys-serve-');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data') });
    secret = (await cli(['keys', 'create', '--name', 'cli'], { cwd: dir, env })).stdout.trim();
    const serveEnv = { ...env, CODEXEC_AUTH: 'keys', CODEXEC_AUTH_CACHE_MS: '0', CODEXEC_EXECUTORS: isRoot ? '1' : '0' };
    server = (await startServe(serveEnv, port)).proc;
    fs.writeFileSync(path.join(dir, 'hello.py'), 'print("hello from a key")\n');
  }, 120_000);
  afterAll(async () => {
    server?.kill('SIGTERM');
    await server;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('status --server: refused without CODEXEC_API_KEY (and says so), answered with it', async () => {
    const without = await cli(['status', '--server', url], { cwd: dir, env });
    expect(without.exitCode).toBe(1);
    expect(without.stderr).toMatch(/^codexec: this server needs an API key.*CODEXEC_API_KEY, which is not set\)\n$/);
    const withKey = await cli(['status', '--server', url], { cwd: dir, env: { ...env, CODEXEC_API_KEY: secret } });
    expect(withKey.exitCode).toBe(0);
    expect(withKey.stdout).toMatch(/^codexec \d+\.\d+\.\d+ · server /);
  });

  it.runIf(isRoot)('run --server sends the key: the run is the key\'s and its output comes back', async () => {
    const r = await cli(['run', 'hello.py', '--server', url], { cwd: dir, env: { ...env, CODEXEC_API_KEY: secret }, timeout: 90_000 });
    expect(r.stderr).not.toMatch(/api_key|401/);
    expect(r.stdout).toContain('hello from a key');
    expect(r.exitCode).toBe(0);
    const refused = await cli(['run', 'hello.py', '--server', url], { cwd: dir, env });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('this server needs an API key');
  }, 120_000);

  it('a key revoked with `codexec keys revoke` is refused by the server (cache 0: at once)', async () => {
    const other = (await cli(['keys', 'create', '--name', 'short-lived'], { cwd: dir, env })).stdout.trim();
    const as = { ...env, CODEXEC_API_KEY: other };
    expect((await cli(['status', '--server', url], { cwd: dir, env: as })).exitCode).toBe(0);
    expect((await cli(['keys', 'revoke', other.slice(0, 12)], { cwd: dir, env })).exitCode).toBe(0);
    const r = await cli(['status', '--server', url], { cwd: dir, env: as });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('this API key was revoked');
  });
});
