import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spinnerUsable } from '../../src/cli/progress.js';
import { BIN, cleanEnv, codexec, fakeServer, hasScript, tempDir } from './helpers.js';

// What `codexec run` shows while it waits, on the terminals it meets, and how it ends on a signal.
// The server is a stand-in (helpers.ts): the client's display is under test here; the real
// server's runs are in cli.test.ts and test/docs.

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = tempDir('codexec-cli-run-');
  env = cleanEnv({ CODEXEC_DATA_DIR: path.join(dir, 'data') });
  fs.writeFileSync(path.join(dir, 'hello.py'), 'print("Hello World")\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the spinner is drawn only where it can be', () => {
  it('needs a terminal with a width', () => {
    expect(spinnerUsable({ isTTY: true, columns: 80 })).toBe(true);
    expect(spinnerUsable({ isTTY: true, columns: 0 })).toBe(false);
    expect(spinnerUsable({ isTTY: true, columns: undefined })).toBe(false);
    expect(spinnerUsable({ isTTY: false, columns: 80 })).toBe(false);
  });
});

/** `script` gives the command a pseudo-terminal; `stty cols N` sets the width it reports. */
function inTerminal(columns: number, args: string[], timeout: number) {
  const command = `stty cols ${columns}; exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`;
  return execa('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: { ...env, TERM: 'xterm' }, extendEnv: false, reject: false, timeout, stripFinalNewline: false });
}

describe.skipIf(!hasScript)('in a terminal (script)', () => {
  it('a terminal of 0 columns gets one line per state, and the program\'s output (ora looped forever there)', async () => {
    const server = await fakeServer(1500);
    try {
      const r = await inTerminal(0, ['run', 'hello.py', '--server', server.url], 30_000);
      expect(r.timedOut).toBe(false);
      expect(r.stdout.length).toBeLessThan(4096);
      expect(r.stdout).toMatch(/RUNNING 0{8}-/);
      expect(r.stdout).toContain('Hello World');
      expect(r.stdout).toMatch(/COMPLETED · exit 0/);
      expect(r.exitCode).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('an 80-column terminal gets the spinner, and ends with the output', async () => {
    const server = await fakeServer(800);
    try {
      const r = await inTerminal(80, ['run', 'hello.py', '--server', server.url], 30_000);
      expect(r.stdout).toMatch(/RUNNING \d+\.\ds/);
      expect(r.stdout).toContain('Hello World');
      expect(r.exitCode).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('SIGTERM while the spinner turns: it stops at once, exit 143', async () => {
    const server = await fakeServer(null);
    try {
      const child = inTerminal(80, ['run', 'hello.py', '--server', server.url], 30_000);
      let seen = '';
      child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
      // The shell `script` starts execs node: the child of `script` is codexec.
      let pid: number | undefined;
      for (let i = 0; i < 300 && (pid === undefined || !/RUNNING \d/.test(seen)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (pid !== undefined) continue;
        const kids = await execa('pgrep', ['-P', String(child.pid)], { reject: false });
        const candidate = Number(kids.stdout.trim().split('\n')[0]);
        if (candidate && fs.readFileSync(`/proc/${candidate}/cmdline`, 'utf8').includes(BIN)) pid = candidate;
      }
      expect(pid).toBeDefined();
      expect(seen).toMatch(/RUNNING \d/); // the spinner turns, and the handler is in place
      process.kill(pid!, 'SIGTERM');
      const r = await child;
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/SIGTERM: execution 0{8}-\S+ canceled/);
      expect(r.exitCode).toBe(143);
    } finally {
      await server.close();
    }
  });
});

describe('signals without a terminal', () => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: cancels the execution on the server, says so, exits ${status}`, async () => {
      const server = await fakeServer(null);
      try {
        const child = codexec(['run', 'hello.py', '--server', server.url], { cwd: dir, env, timeout: 30_000 });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        for (let i = 0; i < 200 && !stderr.includes('RUNNING'); i++) await new Promise((r) => setTimeout(r, 50));
        expect(stderr).toContain('RUNNING');
        child.kill(signal);
        const r = await child;
        expect(r.timedOut).toBe(false);
        expect(r.stderr).toMatch(new RegExp(`codexec: ${signal}: execution 0{8}-\\S+ canceled`));
        expect(server.canceled()).toBe(1);
        expect(r.exitCode).toBe(status);
      } finally {
        await server.close();
      }
    });
  }
});
