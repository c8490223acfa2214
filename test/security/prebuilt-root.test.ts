import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ForkServer } from '../../src/sandbox/fork-server.js';
import { defaultLauncherPath } from '../../src/sandbox/host.js';
import { sharedRoot, type SharedRoot } from '../../src/sandbox/spec.js';
import { IS_ROOT, RAW_PHASE, SKIP_MESSAGE } from './helpers.js';
import { ownForkServers, standbyOf } from './host-state.js';
import { securitySuite } from './suite.js';

// A fork server's standby builds the part of the root every execution shares before a request
// comes (native/mounts.c, prebuild_root): the tmpfs root, the server's read-only binds, /dev,
// /proc and its masks. These tests check that it really is built ahead, that a request gets the
// root it asked for or nothing, and that a failed prebuild reaches the request as a setup error.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Mount points (with their source) of a process, from its mountinfo. */
function mountsOf(pid: number): { point: string; source: string; fstype: string }[] {
  return fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').trim().split('\n').map((line) => {
    const [left, right = ''] = line.split(' - ');
    const [fstype = '', source = ''] = right.split(' ');
    return { point: left!.split(' ')[4]!, source, fstype };
  });
}

interface Ran {
  code: number | null;
  status: string;
  stdout: string;
}

/** One request to `server`: the root's options, then a phase running `argv`. */
async function run(server: ForkServer, root: SharedRoot, argv: string[]): Promise<Ran> {
  const chunks: Record<number, Buffer[]> = { 1: [], 4: [] };
  const phase = RAW_PHASE.slice(0, -3);
  const args = [
    '--no-seccomp',
    ...root.binds.flatMap((b) => ['--ro', b]),
    ...root.maskedPaths.flatMap((m) => ['--mask', m]),
    '--tmpfs', '/work:1048576:755',
    ...phase,
    '--exec', String(argv.length), ...argv,
  ];
  const r = server.start(args, Buffer.alloc(0), Buffer.alloc(0), (fd, c) => chunks[fd]?.push(c));
  const code = await r.done;
  return { code, status: Buffer.concat(chunks[4]!).toString(), stdout: Buffer.concat(chunks[1]!).toString() };
}

describe.skipIf(!IS_ROOT)(`prebuilt root${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const suite = securitySuite();
  const root = sharedRoot();

  it('the standby has built the shared root before any request: binds, /dev, /proc and masks', async () => {
    const before = new Set(ownForkServers());
    const server = new ForkServer(defaultLauncherPath(), [], root);
    try {
      let standby: number | undefined;
      for (let i = 0; i < 250 * suite.slow() && standby === undefined; i++) {
        const ours = ownForkServers().filter((p) => !before.has(p));
        standby = ours.map(standbyOf).find((pid) => pid !== undefined);
        if (standby === undefined) await sleep(20);
      }
      expect(standby, 'a standby of the new server').toBeDefined();
      // Its mounts settle as it builds: wait until the last mask is there.
      let mounts = mountsOf(standby!);
      const lastMask = root.maskedPaths.filter((m) => fs.existsSync(m)).at(-1)!;
      for (let i = 0; i < 250 * suite.slow() && !mounts.some((m) => m.point === `/tmp${lastMask}`); i++) {
        await sleep(20);
        mounts = mountsOf(standby!);
      }
      const at = (point: string) => mounts.find((m) => m.point === point);
      expect(at('/tmp')?.source, 'the root tmpfs').toBe('codexec-root');
      expect(at('/tmp/proc')?.fstype).toBe('proc');
      expect(at('/tmp/dev')?.source).toBe('codexec-dev');
      expect(at('/tmp/usr'), 'the /usr bind').toBeDefined();
      expect(at(`/tmp${lastMask}`), `the mask of ${lastMask}`).toBeDefined();
      // Nothing of an execution yet: no working directory, no pivot (the host's / is still its root).
      expect(at('/tmp/work')).toBeUndefined();
      expect(at('/')?.fstype).not.toBe('tmpfs');

      // A request with the same base runs on it: /usr is there, read-only; /proc/cmdline is masked.
      const got = await run(server, root, ['/bin/sh', '-c', 'test -x /usr/bin/env && ! touch /usr/x 2>/dev/null && wc -c < /proc/cmdline']);
      expect(got.status, got.status).toMatch(/^phase run exit 0 /m);
      expect(got.stdout.trim()).toBe('0');
    } finally {
      server.close();
    }
  });

  it('refuses a request whose binds or masks do not begin with the server\'s, running nothing', async () => {
    const server = new ForkServer(defaultLauncherPath(), [], root);
    let extra = '';
    try {
      const marker = ['/bin/sh', '-c', 'echo ran'];
      const reordered = { ...root, binds: [root.binds[1]!, root.binds[0]!, ...root.binds.slice(2)] };
      const fewerMasks = { ...root, maskedPaths: root.maskedPaths.slice(1) };
      const noBase = { binds: ['/usr'], maskedPaths: [] };
      for (const asked of [reordered, fewerMasks, noBase]) {
        const got = await run(server, asked, marker);
        expect(got.code).toBe(125);
        expect(got.status).toMatch(/^setup_error root-base 22$/m);
        expect(got.stdout).toBe('');
      }
      // More binds and masks than the base, after it: added per request, and the program runs.
      extra = fs.mkdtempSync('/var/tmp/cx-bind-');
      fs.chmodSync(extra, 0o755);
      fs.writeFileSync(`${extra}/seen`, 'x');
      const more = { binds: [...root.binds, extra], maskedPaths: [...root.maskedPaths, '/proc/version'] };
      const got = await run(server, more, ['/bin/sh', '-c', `test -f ${extra}/seen && wc -c < /proc/version`]);
      expect(got.status, got.status).toMatch(/^phase run exit 0 /m);
      expect(got.stdout.trim()).toBe('0');
    } finally {
      server.close();
      if (extra) fs.rmSync(extra, { recursive: true, force: true });
    }
  });

  it('a failed prebuild reaches each request as a setup error, and the server keeps serving', async () => {
    // /proc/cmdline is a file: nothing can be below it, so masking /proc/cmdline/x fails (ENOTDIR).
    const broken = { binds: root.binds, maskedPaths: ['/proc/cmdline/x'] };
    const server = new ForkServer(defaultLauncherPath(), [], broken);
    try {
      for (let i = 0; i < 2; i++) {
        const got = await run(server, broken, ['/bin/sh', '-c', 'echo ran']);
        expect(got.code).toBe(125);
        expect(got.status).toMatch(/^setup_error mask 20$/m);
        expect(got.stdout).toBe('');
        expect(server.alive).toBe(true);
      }
    } finally {
      server.close();
    }
  });

  it('a bind at or under /dev or /proc is refused: by a request, and by the server at its start', async () => {
    const server = new ForkServer(defaultLauncherPath(), [], root);
    try {
      for (const bad of ['/dev/shm', '/proc', '/proc/1/root']) {
        const got = await run(server, { binds: [...root.binds, bad], maskedPaths: root.maskedPaths }, ['/bin/sh', '-c', 'echo ran']);
        expect(got.code, bad).toBe(125);
        expect(got.status).toMatch(/^setup_error args:--ro_under_\/dev_or_\/proc 22$/m);
      }
    } finally {
      server.close();
    }
    const refused = new ForkServer(defaultLauncherPath(), [], { binds: ['/proc/1/root'], maskedPaths: [] });
    for (let i = 0; i < 250 && refused.alive; i++) await sleep(20);
    expect(refused.alive, 'the server exits at its start').toBe(false);
  });
});
