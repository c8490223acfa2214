import type { AddressInfo } from 'node:net';
import piston from 'piston-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../../../src/executor/executor.js';
import type { SandboxRunner } from '../../../src/executor/sandbox-port.js';
import { isRoot, logger, openTestSandbox } from '../../executor/helpers.js';
import { call, startHarness, type Harness } from '../harness.js';
import { PISTON } from './fixtures.js';

// Piston clients' requests run for real: the real app listening on 127.0.0.1, a real executor and
// the real sandbox (as root). The published npm client (piston-client) runs a program in every
// language codexec ships, each printing its name and the client's default arguments ("1 2 3").

const PROGRAMS: Record<string, string> = {
  bash: 'echo "bash $*"',
  c: '#include <stdio.h>\nint main(int argc, char **argv) {\n  printf("c");\n  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);\n  printf("\\n");\n  return 0;\n}\n',
  'c++': '#include <iostream>\nint main(int argc, char **argv) {\n  std::cout << "c++";\n  for (int i = 1; i < argc; i++) std::cout << " " << argv[i];\n  std::cout << std::endl;\n}\n',
  go: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Println("go " + strings.Join(os.Args[1:], " "))\n}\n',
  java: 'public class Greeter {\n  public static void main(String[] args) {\n    System.out.println("java " + String.join(" ", args));\n  }\n}\n',
  javascript: 'console.log(["javascript", ...process.argv.slice(2)].join(" "));\n',
  perl: 'print "perl @ARGV\\n";\n',
  php: '<?php\necho "php " . implode(" ", array_slice($argv, 1)) . "\\n";\n',
  python: 'import sys\nprint("python", " ".join(sys.argv[1:]))\n',
  ruby: 'puts "ruby #{ARGV.join(" ")}"\n',
  rust: 'fn main() {\n    let args: Vec<String> = std::env::args().skip(1).collect();\n    println!("rust {}", args.join(" "));\n}\n',
  typescript: 'const args: string[] = process.argv.slice(2);\nconsole.log(`typescript ${args.join(" ")}`);\n',
};

describe.skipIf(!isRoot)('piston API end to end (needs root for the sandbox)', () => {
  let sandbox: SandboxRunner;
  let h: Harness;
  let executor: Executor;
  let server: string;
  beforeAll(async () => {
    sandbox = await openTestSandbox();
    h = await startHarness({ shippedProfiles: true, config: { compat: ['piston'] } });
    executor = new Executor({ store: h.jobs, sandbox, logger, slots: 2, leaseMs: 10_000, retryBaseMs: 10 });
    executor.start();
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    server = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await executor.stop(1000);
    await h.close();
    await sandbox.close();
  });

  it('piston-client runs a program in every language codexec ships, with its default args', async () => {
    const client = piston({ server });
    const runtimes = await client.runtimes();
    expect(runtimes.map((r) => r.language).sort()).toEqual(Object.keys(PROGRAMS).sort());
    // Its default args ("1 2 3"); the limits are each language's own (-1), not the client's
    // defaults (compile 10 s, run 3 s), which a loaded test machine can miss for C++ or Java.
    const ownLimits = { compileTimeout: -1, runTimeout: -1 };
    const results = await Promise.all(Object.entries(PROGRAMS).map(([language, code]) => client.execute(language, code, ownLimits)));
    for (const [i, language] of Object.keys(PROGRAMS).entries()) {
      const r = results[i]!;
      expect(r.run, `${language}: ${JSON.stringify(r).slice(0, 600)}`).toMatchObject({ stdout: `${language} 1 2 3\n`, stderr: '', code: 0, signal: null });
      expect(r.language).toBe(language);
      expect(r.version).toBe(runtimes.find((rt) => rt.language === language)?.version);
      const compiled = h.languages.find(language === 'c++' ? 'cpp' : language)!.compile !== null;
      expect(r.compile === undefined, language).toBe(!compiled);
      if (compiled) expect(r.compile?.code, language).toBe(0);
    }
    // Everything as the client defaults it, and its stdin, which reaches the program.
    const echo = await client.execute('python', 'import sys\nprint(input()[::-1], sys.argv[1:])', { stdin: 'olleh\n' });
    expect(echo.run.stdout).toBe("hello ['1', '2', '3']\n");
  }, 240_000);

  it('the documentation\'s execute example: args reach the program, the answer has Piston\'s shape', async () => {
    const res = await call(h, 'POST', '/api/v2/execute', PISTON.execute.body);
    expect(res.status, res.body).toBe(200);
    expect(res.json).toEqual({
      language: 'javascript',
      version: h.languages.find('javascript')!.version,
      run: { stdout: PISTON.execute.stdout, stderr: '', output: PISTON.execute.stdout, code: 0, signal: null, message: null, status: null, cpu_time: expect.any(Number), wall_time: expect.any(Number), memory: expect.any(Number) },
    });
    // The public instance's paths answer the same.
    const alias = await call(h, 'POST', '/api/v2/piston/execute', PISTON.execute.body);
    expect(alias.json.run.stdout).toBe(PISTON.execute.stdout);
  }, 60_000);

  it('a compile error has no run stage; a runtime error, a signal and a time limit read as Piston\'s', async () => {
    const exec = async (body: Record<string, unknown>) => {
      const res = await call(h, 'POST', '/api/v2/execute', body);
      expect(res.status, res.body).toBe(200);
      return res.json;
    };
    const [broken, exit3, killed, looping, stderr] = await Promise.all([
      exec({ language: 'c', version: '*', files: [{ content: 'int main(void) { return missing; }' }] }),
      exec({ language: 'python', files: [{ content: 'import sys\nprint("out")\nsys.exit(3)' }] }),
      exec({ language: 'python', files: [{ content: 'import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)' }] }),
      exec({ language: 'python', files: [{ content: 'while True: pass' }], run_timeout: 20_000, run_cpu_time: 300 }),
      exec({ language: 'bash', files: [{ content: 'echo to-out; echo to-err >&2' }] }),
    ]);
    expect(broken.run).toBeUndefined();
    expect(broken.compile).toMatchObject({ code: 1, signal: null, status: 'RE', stdout: '' });
    expect(broken.compile.stderr).toMatch(/missing/);
    expect(broken.compile.output).toBe(broken.compile.stderr);
    expect(exit3.run).toMatchObject({ stdout: 'out\n', code: 3, signal: null, status: 'RE' });
    expect(killed.run).toMatchObject({ code: null, signal: 'SIGSEGV', status: 'SG' });
    expect(looping.run).toMatchObject({ code: null, signal: 'SIGKILL', status: 'TO' });
    expect(stderr.run).toMatchObject({ stdout: 'to-out\n', stderr: 'to-err\n', output: 'to-out\nto-err\n' });
  }, 120_000);

  it('a client that hangs up gets its run canceled', async () => {
    const ctl = new AbortController();
    const pending = fetch(`${server}/api/v2/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', files: [{ content: 'import time\ntime.sleep(20)' }], run_timeout: 25_000 }),
      signal: ctl.signal,
    }).catch((err: unknown) => err);
    let running: string | undefined;
    while (!running) {
      await new Promise((r) => setTimeout(r, 50));
      running = (await h.jobs.stats()).counts.RUNNING > 0 ? 'yes' : undefined;
    }
    ctl.abort();
    await pending;
    let canceled = 0;
    for (let i = 0; i < 200 && canceled === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      canceled = (await h.jobs.stats()).recentFailures.filter((f) => f.failureReason === 'canceled').length;
    }
    expect(canceled).toBe(1);
  }, 60_000);
});
