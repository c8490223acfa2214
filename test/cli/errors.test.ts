import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, closedPort, codexec, tempDir } from './helpers.js';

// What reaches a person when something is wrong: one line `codexec: ...`, no stack, no "Error:"
// prefix, and an exit status a script can test (2: the command line is wrong; 1: anything else).

let dir: string;
let env: Record<string, string>;
const run = (args: string[], extra: Record<string, string> = {}) => codexec(args, { cwd: dir, env: { ...env, ...extra } });
const STACK = /\n\s+at /;

beforeAll(() => {
  dir = tempDir('codexec-cli-errors-');
  env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data') });
  fs.writeFileSync(path.join(dir, 'hello.py'), 'print("Hello World")\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(STACK);
  expect(stderr).not.toMatch(/\bError: /);
}

describe('startup errors name the setting', () => {
  it('a missing CODEXEC_PROFILES_DIR', async () => {
    for (const cmd of [['languages'], ['run', 'hello.py']]) {
      const r = await run(cmd, { CODEXEC_PROFILES_DIR: path.join(dir, 'no-such-profiles') });
      expect(r.exitCode, cmd.join(' ')).toBe(1);
      expectOneLine(r.stderr, /^codexec: invalid configuration:\n\s+- CODEXEC_PROFILES_DIR: .*no-such-profiles does not exist/);
    }
  });
  it('a CODEXEC_PROFILES_DIR without languages/', async () => {
    fs.mkdirSync(path.join(dir, 'empty-profiles'), { recursive: true });
    const r = await run(['languages'], { CODEXEC_PROFILES_DIR: path.join(dir, 'empty-profiles') });
    expect(r.exitCode).toBe(1);
    expectOneLine(r.stderr, /CODEXEC_PROFILES_DIR: .*empty-profiles has no languages\/ or seccomp\/ directory/);
  });
  it('a CODEXEC_URL that is not a URL', async () => {
    const r = await run(['status'], { CODEXEC_URL: 'localhost:8080' });
    expect(r.exitCode).toBe(1);
    expectOneLine(r.stderr, /CODEXEC_URL: expected/);
  });
});

describe('a server that does not answer', () => {
  it('--server on a closed port: "connection refused", whatever the port (fetch would refuse port 1 as "bad port")', async () => {
    for (const port of [1, await closedPort()]) {
      const r = await run(['run', 'hello.py', '--server', `http://127.0.0.1:${port}`]);
      expect(r.exitCode).toBe(1);
      expectOneLine(r.stderr, new RegExp(`^codexec: cannot reach http://127\\.0\\.0\\.1:${port}: connection refused`));
    }
  });
  it('an unknown host', async () => {
    const r = await run(['status', '--server', 'http://no-such-host.invalid:8080']);
    expect(r.exitCode).toBe(1);
    expectOneLine(r.stderr, /^codexec: cannot reach http:\/\/no-such-host\.invalid:8080: (no such host|the host name could not be resolved now)/);
  });
});

describe('usage errors exit 2', () => {
  it('--server that is not a URL', async () => {
    const r = await run(['status', '--server', 'nope']);
    expect(r.exitCode).toBe(2);
    expectOneLine(r.stderr, /^codexec: --server: expected a URL/);
  });
  it('limits outside the API\'s ranges, as the API refuses them', async () => {
    const time = await run(['run', 'hello.py', '--time-limit', '50']);
    expect(time.exitCode).toBe(2);
    expectOneLine(time.stderr, /^codexec: --time-limit: expected 100 to 600000 ms, got 50/);
    const mem = await run(['run', 'hello.py', '--memory-limit', '1000']);
    expect(mem.exitCode).toBe(2);
    expectOneLine(mem.stderr, /^codexec: --memory-limit: expected 16 MiB to 1 TiB, got 1000 bytes/);
    const junk = await run(['run', 'hello.py', '--memory-limit', 'lots']);
    expect(junk.exitCode).toBe(2);
  });
  it('sizes with units pass (the run then fails on the closed server, after the flags were accepted)', async () => {
    const server = `http://127.0.0.1:${await closedPort()}`;
    for (const size of ['512M', '1G', '65536k', '268435456']) {
      const r = await run(['run', 'hello.py', '--memory-limit', size, '--time-limit', '2000', '--server', server]);
      expect(r.stderr, size).toMatch(/connection refused/);
    }
  });
  it('an unknown option, a missing argument, an invalid flag value', async () => {
    for (const args of [['run', 'hello.py', '--bogus'], ['run'], ['serve', '--port', 'abc'], ['worker', '--concurrency', '0'], ['status', '--watch', 'soon']]) {
      const r = await run(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^codexec: /);
      expect(r.stderr).not.toMatch(STACK);
    }
  });
  it('--help and --version exit 0', async () => {
    expect((await run(['--help'])).exitCode).toBe(0);
    expect((await run(['run', '--help'])).exitCode).toBe(0);
    const v = await run(['--version']);
    expect(v.exitCode).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('a reader that goes away', () => {
  it('`codexec status --json | head`: no EPIPE stack, exit 0', async () => {
    for (let i = 0; i < 3; i++) {
      const child = codexec(['status', '--json'], { cwd: dir, env, stdout: 'pipe' });
      child.stdout!.destroy(); // the reader is gone before the first write
      const r = await child;
      expect(r.stderr).not.toContain('EPIPE');
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    }
  });
});
