import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultProfilesDir } from '../../src/languages/registry.js';
import { ForkServer } from '../../src/sandbox/fork-server.js';
import { defaultLauncherPath } from '../../src/sandbox/host.js';
import { encodeRecord } from '../../src/sandbox/protocol.js';
import { describeOutcome, file, IS_ROOT, planOf, py, RAW_PHASE, reportOf, sandbox, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// The working directory in and out (runSandbox): files with paths go in before the first phase;
// after the last phase exited 0 the working directory's regular files come back (compile once,
// run each test case in a fresh sandbox). The export is done by the launcher's init as root, in
// a directory the program filled: these tests try to make it follow a symlink, block on a FIFO or
// exceed its bounds, and check that nothing of one sandbox reaches the next.

const C_SOURCE = String.raw`
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  char line[256] = "";
  if (!fgets(line, sizeof line, stdin)) return 3;
  line[strcspn(line, "\n")] = 0;
  size_t n = strlen(line);
  for (size_t i = 0; i < n / 2; i++) { char t = line[i]; line[i] = line[n - 1 - i]; line[n - 1 - i] = t; }
  int seen = access("/work/state", F_OK) == 0 || access("/tmp/state", F_OK) == 0;
  FILE *f = fopen("/work/state", "w"); if (f) { fputs(line, f); fclose(f); }
  f = fopen("/tmp/state", "w"); if (f) { fputs(line, f); fclose(f); }
  printf("%s seen=%d\n", line, seen);
  return 0;
}
`;

describe.skipIf(!IS_ROOT)(`the working directory in and out${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  it('compiles once, then runs the exported binary in two fresh sandboxes with different stdin; nothing of one reaches the next', async (ctx) => {
    const env = s.env();
    if (!env.registry.find('c')?.available) ctx.skip(); // no C compiler on this host
    const plan = planOf(env, 'c');
    const compiled = await sandbox(env, { plan, files: [file('main.c', C_SOURCE)], phases: ['compile'], exportWorkdir: true });
    expect(compiled.kind, describeOutcome(compiled)).toBe('completed');
    expect(compiled.compile?.ok).toBe(true);
    expect(compiled.artifacts?.map((f) => [f.path, f.executable])).toEqual([
      ['main', true],
      ['main.c', false],
    ]);
    const digest = createHash('sha256').update(fs.readFileSync(path.join(defaultProfilesDir(), 'seccomp', 'default.json'))).digest('hex');
    expect(compiled.seccompDigest).toBe(digest);
    const binary = compiled.artifacts!.filter((f) => f.path === 'main');
    const first = await sandbox(env, { plan, files: binary, stdin: 'abc\n' });
    const second = await sandbox(env, { plan, files: binary, stdin: 'hello\n' });
    expect([first.kind, first.stdout], describeOutcome(first)).toEqual(['completed', 'cba seen=0\n']);
    expect([second.kind, second.stdout], describeOutcome(second)).toEqual(['completed', 'olleh seen=0\n']);
    expect(first.artifacts).toBeNull();
  });

  it('writes files into directories it creates for the uid, with the executable bit as asked', async () => {
    const env = s.env();
    const plan = planOf(env, 'python', { runArgv: ['/work/bin/hello.sh'] });
    const out = await sandbox(env, {
      plan,
      files: [
        file('bin/hello.sh', '#!/bin/sh\nexec /usr/bin/python3 /work/pkg/deep/probe.py\n', true),
        file('pkg/deep/probe.py', 'import os, json\nst = [os.stat(p) for p in ("/work/pkg", "/work/pkg/deep", "/work/pkg/deep/probe.py")]\nprint(json.dumps({"own": all(x.st_uid == os.getuid() for x in st), "modes": [oct(x.st_mode & 0o777) for x in st]}))\n'),
      ],
    });
    expect(out.kind, describeOutcome(out)).toBe('completed');
    expect(reportOf(out)).toEqual({ own: true, modes: ['0o755', '0o755', '0o644'] });
  });

  it('passes run-phase output on as it arrives, within the same caps as the stored output', async () => {
    const env = s.env();
    const plan = planOf(env, 'python', { limits: { stdoutBytes: 10, stderrBytes: 4 } });
    const live: Record<string, Buffer[]> = { stdout: [], stderr: [] };
    const out = await sandbox(env, {
      plan,
      files: [file('main.py', 'import sys\nprint("x" * 100)\nsys.stderr.write("e" * 50)\n')],
      onOutput: (stream, chunk) => live[stream]!.push(chunk),
    });
    expect(Buffer.concat(live.stdout!).toString()).toBe('x'.repeat(10));
    expect(Buffer.concat(live.stderr!).toString()).toBe('eeee');
    expect([out.stdout, out.stdoutTruncated]).toEqual(['x'.repeat(10), true]);
  });

  // Symlinks to host files and directories, a FIFO (opening it would block init forever), a
  // socket and a hard link: only the regular files come back, and nothing outside the tmpfs.
  it('exports regular files only: never follows a symlink, never opens a FIFO or socket', async () => {
    const env = s.env();
    const out = await sandbox(env, {
      plan: planOf(env, 'python'),
      exportWorkdir: true,
      files: [
        file(
          'main.py',
          py(`import socket
os.symlink('/etc/passwd', '/work/passwd')
os.symlink('/proc/1/environ', '/work/environ')
os.symlink('/', '/work/root')
os.symlink('..', '/work/up')
os.mkdir('/work/d')
os.mkfifo('/work/fifo')
os.mkfifo('/work/d/fifo2')
s = socket.socket(socket.AF_UNIX)
s.bind('/work/d/sock')
open('/work/d/real', 'w').write('real')
os.link('/work/d/real', '/work/hard')
out['done'] = True
`),
        ),
      ],
    });
    expect(out.kind, describeOutcome(out)).toBe('completed');
    expect(out.artifacts?.map((f) => f.path)).toEqual(['d/real', 'hard', 'main.py']);
    expect(out.artifacts?.find((f) => f.path === 'hard')?.content.toString()).toBe('real');
  });

  it('refuses to export more than 1024 files, nested too deep, names with control characters, or more bytes than the tmpfs (sparse files count)', async () => {
    const env = s.env();
    const cases: [string, RegExp][] = [
      ['for i in range(1030): open(f"/work/f{i}", "w").close()', /more than 1024 files/],
      ['p = "/work" + "/d" * 17\nos.makedirs(p)\nopen(p + "/f", "w").close()', /nested too deep/],
      ['open("/work/a\\nb", "w").close()', /control characters/],
      ['for i in range(3):\n    f = open(f"/work/sparse{i}", "w"); f.truncate(15 << 20); f.close()', /more bytes than its size/],
    ];
    for (const [body, why] of cases) {
      const out = await sandbox(env, { plan: planOf(env, 'python'), exportWorkdir: true, files: [file('main.py', `import os\n${body}\n`)] });
      expect([out.kind, out.message, out.artifacts], describeOutcome(out)).toEqual(['output_limit', expect.stringMatching(why), null]);
    }
  });

  // Links to a FIFO are directory entries the walk must visit and skip. The tmpfs counts each
  // link against its 4096 inodes, so there are never more than that (the launcher also stops
  // after 16384 entries).
  it('walks thousands of links to a FIFO without opening one', async () => {
    const env = s.env();
    const out = await sandbox(env, {
      plan: planOf(env, 'python'),
      exportWorkdir: true,
      files: [file('main.py', 'import os\nos.mkfifo("/work/p")\ni = 0\ntry:\n    while True:\n        os.link("/work/p", f"/work/l{i}")\n        i += 1\nexcept OSError as e:\n    print(i, e.errno)\n')],
    });
    expect(out.kind, describeOutcome(out)).toBe('completed');
    expect(Number(out.stdout.split(' ')[0])).toBeGreaterThan(4000);
    expect(out.artifacts?.map((f) => f.path)).toEqual(['main.py']);
  });

  it('exports nothing when the last phase fails', async () => {
    const env = s.env();
    const out = await sandbox(env, { plan: planOf(env, 'python'), exportWorkdir: true, files: [file('main.py', 'open("/work/x", "w").write("x")\nraise SystemExit(1)\n')] });
    expect([out.kind, out.artifacts]).toEqual(['runtime_error', null]);
  });

  it('refuses unsafe paths before anything runs', async () => {
    const env = s.env();
    for (const bad of ['../escape', '/etc/x', 'a/../../b', 'a//b', 'x\0y']) {
      const out = await sandbox(env, { plan: planOf(env, 'python'), files: [file('main.py', 'print(1)'), file(bad, 'x')] });
      expect([out.kind, out.sandboxErrorStep], bad).toEqual(['sandbox_error', 'request']);
    }
  });

  // The launcher checks the paths itself: a request that reaches it with '..', a NUL inside the
  // name, or too many files runs nothing.
  it('the launcher refuses unsafe paths in input records on its own', async () => {
    const server = new ForkServer(defaultLauncherPath());
    try {
      const args = ['--no-seccomp', ...RAW_PHASE];
      const tooMany = Array.from({ length: 1025 }, (_, i) => encodeRecord('F', `f${i}`, Buffer.alloc(0))).flat();
      for (const input of [encodeRecord('F', '../x', Buffer.from('x')), encodeRecord('E', 'a/../../b', Buffer.alloc(0)), encodeRecord('F', 'a\0b', Buffer.alloc(0)), tooMany]) {
        const status: Buffer[] = [];
        const run = server.start(args, Buffer.concat(input), Buffer.alloc(0), (fd, c) => fd === 4 && status.push(c));
        expect(await run.done).toBe(125);
        expect(Buffer.concat(status).toString()).toMatch(/setup_error input:file 22/);
      }
    } finally {
      server.close();
    }
  });
});
