import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ForkServer } from '../../src/sandbox/fork-server.js';
import { encodeFrame, encodeRunRequest, REQUEST } from '../../src/sandbox/protocol.js';
import { createExecutionGroup, detectCgroups } from '../../src/sandbox/cgroups/index.js';
import { loadConfig } from '../../src/config/load.js';
import { defaultLauncherPath } from '../../src/sandbox/host.js';
import { IsolatedHost } from '../../src/sandbox/isolated-host.js';
import { IS_ROOT, RAW_PHASE, SKIP_MESSAGE, reportOf, describeOutcome } from './helpers.js';
import { ownForkServers } from './host-state.js';
import { securitySuite } from './suite.js';

// The fork server (`codexec-launcher --server`) is the default way executions start: one
// long-lived launcher per executor slot clones each execution's init into fresh namespaces. These
// tests attack its edges: the control channel, its death mid-run, malformed requests, the death
// of the worker that started it.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Running: a zombie (dead, not yet reaped by whoever inherited it) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
}

describe.skipIf(!IS_ROOT)(`fork server${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const suite = securitySuite();

  it('gives the program only its three standard descriptors, none of them the control channel', async () => {
    const { outcome } = await suite.run(
      'python',
      `import os, json, stat
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
kinds = {fd: stat.S_ISFIFO(os.fstat(fd).st_mode) for fd in fds if fd < 3}
print(json.dumps({'fds': fds, 'fifo': kinds, 'ppid': os.getppid(), 'pid': os.getpid()}))`,
    );
    const r = reportOf(outcome);
    // 3 is the listing's own descriptor of /proc/self/fd.
    expect(r.fds, describeOutcome(outcome)).toEqual([0, 1, 2, 3]);
    expect(r.fifo).toEqual({ 0: true, 1: true, 2: true });
    // pid 1 is the launcher's init inside the fresh pid namespace: the fork server is not visible.
    expect(r.ppid).toBe(1);
  });

  it('a fork server killed mid-run ends that execution as a sandbox error, with nothing left behind, and the next run starts a new one', async () => {
    const env = suite.env();
    expect(env.host).toBeInstanceOf(IsolatedHost);
    const running = suite.run('python', 'import time\ntime.sleep(30)', { overrides: { wallTimeMs: 20_000 * suite.slow() } });
    // The server running it is the one of this process's servers with an init (a child that is
    // not standing by).
    const inits = (server: number) => listChildren(server).filter((c) => !c.standby);
    expect(await waitFor(() => ownForkServers().some((pid) => inits(pid).length > 0), 5000 * suite.slow())).toBe(true);
    const busy = ownForkServers().filter((pid) => inits(pid).length > 0);
    expect(busy.length).toBe(1);
    expect(inits(busy[0]!).length).toBe(1);
    const init = inits(busy[0]!)[0]!.pid;
    process.kill(busy[0]!, 'SIGKILL');
    const { outcome, elapsedMs } = await running;
    expect(outcome.kind, describeOutcome(outcome)).toBe('sandbox_error');
    expect(elapsedMs).toBeLessThan(15_000 * suite.slow());
    expect(await waitFor(() => !alive(init), 5000 * suite.slow())).toBe(true);
    // init died with its server (PDEATHSIG): the suite's afterEach checks no process is left.
    const next = await suite.run('python', 'print("again")');
    expect(next.outcome.kind, describeOutcome(next.outcome)).toBe('completed');
    expect(next.outcome.stdout).toBe('again\n');
  });

  it('an aborted execution is killed through the control channel, and the server serves the next one', async () => {
    const env = suite.env();
    const profile = env.registry.resolve('python');
    const { runInSandbox } = await import('../../src/sandbox/run.js');
    const ac = new AbortController();
    const t0 = performance.now();
    const pending = runInSandbox(env.host, {
      executionId: `abort-${process.pid}`,
      profile,
      sourceCode: 'import time\ntime.sleep(60)',
      stdin: '',
      runLimits: { ...profile.limits.default, wallTimeMs: 30_000 },
      compileLimits: null,
      signal: ac.signal,
    });
    await sleep(300 * suite.slow());
    const servers = ownForkServers();
    ac.abort();
    const outcome = await pending;
    expect(outcome.kind, describeOutcome(outcome)).toBe('wall_timeout');
    expect(performance.now() - t0).toBeLessThan(10_000 * suite.slow());
    // Same servers still alive: the kill went to the execution, not to its server.
    for (const pid of servers) expect(alive(pid)).toBe(true);
    const next = await suite.run('python', 'print(6*7)');
    expect(next.outcome.stdout).toBe('42\n');
  });

  it('sends init\'s status lines in one frame with the exit frame, after the output, ending with "done"', async () => {
    // native/server.c: a frame per status line woke the worker just as the program started; and
    // init's last line, "done", lets the server send the result before init's own exit.
    const env = suite.env();
    expect(env.host).toBeInstanceOf(IsolatedHost);
    const pool = (env.host as IsolatedHost).forkServers;
    const seen: { fd: number; text: string }[] = [];
    const start = pool.start.bind(pool);
    pool.start = (args, input, stdin, onChunk) =>
      start(args, input, stdin, (fd, chunk) => {
        seen.push({ fd, text: chunk.toString() });
        onChunk(fd, chunk);
      });
    try {
      const { outcome } = await suite.run('python', 'import time\nprint("early", flush=True)\ntime.sleep(0.3)\nprint("late")');
      expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
      expect(outcome.stdout).toBe('early\nlate\n');
    } finally {
      pool.start = start;
    }
    const status = seen.filter((c) => c.fd === 4);
    expect(status.length, JSON.stringify(seen)).toBe(1);
    expect(status[0]!.text).toMatch(/^ready\nphase run exit 0 wall_us \d+ cpu_us \d+ entry \w+\ndone\n$/);
    // After everything the program wrote.
    expect(seen.at(-1)!.fd).toBe(4);
    expect(seen.findIndex((c) => c.fd === 1 && c.text.includes('early'))).toBeLessThan(seen.indexOf(status[0]!));
  });

  it('an idle server keeps one init standing by, in namespaces of its own and holding nothing; one killed is replaced', async () => {
    await suite.run('python', 'print(1)');
    const servers = ownForkServers();
    expect(servers.length).toBeGreaterThan(0);
    const server = servers[0]!;
    expect(await waitFor(() => listChildren(server).some((c) => c.standby), 5000 * suite.slow())).toBe(true);
    const standbys = listChildren(server);
    expect(standbys.map((c) => c.standby)).toEqual([true]);
    const sb = standbys[0]!.pid;
    const ns = (pid: number | 'self', kind: string) => fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
    for (const kind of ['pid_for_children', 'mnt', 'net', 'ipc', 'uts']) {
      expect(ns(sb, kind), kind).not.toBe(ns(server, kind));
      expect(ns(sb, kind), kind).not.toBe(ns('self', kind));
    }
    // Root, as the server; no child; blocked before anything of an execution: only its pipes open.
    const status = fs.readFileSync(`/proc/${sb}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+0\s/m);
    expect(listChildren(sb)).toEqual([]);
    const fds = fs.readdirSync(`/proc/${sb}/fd`).map((fd) => fs.readlinkSync(`/proc/${sb}/fd/${fd}`));
    expect(fds.length).toBe(9);
    for (const target of fds) expect(target).toMatch(/^pipe:/);
    // Killed while standing by, it is replaced: every server still runs what it is given. Once
    // dead (a zombie: its pipes are closed), that is; a request written in the moment between a
    // SIGKILL and the death lands in the dying standby's pipe and ends as a sandbox error, which
    // the executor retries (a transient failure). The wait keeps this test to what it checks.
    const killed: number[] = [];
    for (const pid of servers) for (const c of listChildren(pid)) if (c.standby) (process.kill(c.pid, 'SIGKILL'), killed.push(c.pid));
    const dead = (pid: number) => {
      try {
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
      } catch {
        return true;
      }
    };
    expect(await waitFor(() => killed.every(dead), 5000 * suite.slow())).toBe(true);
    for (let i = 0; i < servers.length + 1; i++) {
      const { outcome } = await suite.run('python', 'print(6*7)');
      expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
      expect(outcome.stdout).toBe('42\n');
    }
  });

  it('puts the program in its cgroup the fast way where the kernel allows: cloned in on cgroup v2 (Linux >= 5.7), joined on v1', async () => {
    // native/limits.c: a migration (a write to cgroup.procs) waits for an RCU grace period after
    // an idle moment; clone3 with CLONE_INTO_CGROUP does not. A launcher that always fell back to
    // the join would pass every other test, only slower: its status line says which it did.
    const host = detectCgroups({ parent: loadConfig({}).cgroupParent || undefined });
    const group = createExecutionGroup(host, `entry-${process.pid}`, { memoryBytes: 64 << 20, processes: 8 });
    const server = new ForkServer(defaultLauncherPath());
    try {
      const [major = 0, minor = 0] = os.release().split(/[.-]/).map(Number);
      const expected = host.version === 2 && (major > 5 || (major === 5 && minor >= 7)) ? 'clone3' : 'join';
      const phase = [...RAW_PHASE.slice(0, 6), ...group.procsPaths.flatMap((p) => ['--cgroup', p]), ...RAW_PHASE.slice(6)];
      for (const args of [phase, RAW_PHASE]) {
        const chunks: Buffer[] = [];
        const root = ['--no-seccomp', '--ro', '/usr', '--ro', '/bin', '--ro', '/lib', '--ro', '/lib64', '--tmpfs', '/work:1048576:755'];
        const run = server.start([...root, ...args], Buffer.alloc(0), Buffer.alloc(0), (fd, c) => fd === 4 && chunks.push(c));
        const code = await run.done;
        const status = Buffer.concat(chunks).toString();
        expect(code, status).toBe(0);
        expect(status, status).toMatch(new RegExp(`^phase run exit 0 wall_us \\d+ cpu_us \\d+ entry ${args === phase ? expected : 'none'}$`, 'm'));
      }
    } finally {
      server.close();
      await group.kill();
      await group.remove();
    }
  });

  it('answers a malformed request with a setup error and keeps serving', async () => {
    const server = new ForkServer(defaultLauncherPath());
    try {
      const chunks: Buffer[] = [];
      // An option the launcher does not know: init reports it on the status descriptor, runs nothing.
      const bad = server.start(['--no-such-option'], Buffer.alloc(0), Buffer.alloc(0), (fd, c) => fd === 4 && chunks.push(c));
      expect(await bad.done).toBe(125);
      expect(Buffer.concat(chunks).toString()).toMatch(/^setup_error args:/);
      // Phases without an input (no seccomp filter record): refused before anything runs.
      chunks.length = 0;
      const noFilter = server.start([...RAW_PHASE], Buffer.alloc(0), Buffer.alloc(0), (fd, c) => fd === 4 && chunks.push(c));
      expect(await noFilter.done).toBe(125);
      expect(Buffer.concat(chunks).toString()).toMatch(/setup_error input:seccomp /);
      // The launcher holds no setting of its own: a phase without its limits, a request without a
      // uid, and an --exec whose count runs past the options are refused before anything runs.
      const withoutLimit = RAW_PHASE.filter((_, i) => RAW_PHASE[i] !== '--stack' && RAW_PHASE[i - 1] !== '--stack');
      const withoutUid = RAW_PHASE.slice(4);
      const shortExec = [...RAW_PHASE.slice(0, -2), '3', '/bin/true'];
      for (const [args, why] of [[withoutLimit, /without_--wall-ms/], [withoutUid, /no_--uid/], [shortExec, /fewer_words/]] as const) {
        chunks.length = 0;
        const refused = server.start(['--no-seccomp', ...args], Buffer.alloc(0), Buffer.alloc(0), (fd, c) => fd === 4 && chunks.push(c));
        expect(await refused.done).toBe(125);
        expect(Buffer.concat(chunks).toString()).toMatch(/^setup_error args:\S+ 22\n$/);
        expect(Buffer.concat(chunks).toString()).toMatch(why);
      }
      expect(server.alive).toBe(true);
    } finally {
      server.close();
    }
    expect(await waitFor(() => !server.alive, 5000)).toBe(true);
  });

  it('survives a truncated request frame and exits when its stdin closes', async () => {
    const child = spawn(defaultLauncherPath(), ['--server'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const got: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => got.push(c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // 'R' whose payload claims 5 arguments but holds one, and no input or stdin lengths.
    const payload = Buffer.concat([Buffer.from([5, 0, 0, 0]), Buffer.from('a\0')]);
    const head = Buffer.alloc(5);
    head.write('R', 0, 'latin1');
    head.writeUInt32LE(payload.length, 1);
    child.stdin.write(Buffer.concat([head, payload]));
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    expect(await waitFor(() => Buffer.concat(got).includes(Buffer.from([0x58, 4, 0, 0, 0])), 5000)).toBe(true);
    const out = Buffer.concat(got);
    expect(String.fromCharCode(out[0]!)).toBe('4');
    expect(out.subarray(5, 5 + out.readUInt32LE(1)).toString()).toMatch(/^setup_error request \d+/);
    const x = 5 + out.readUInt32LE(1);
    expect(String.fromCharCode(out[x]!)).toBe('X');
    expect(out.readInt32LE(x + 5)).toBe(125);
    // A kill with nothing running is ignored; the end of its stdin ends the server.
    child.stdin.end(Buffer.from([0x4b, 0, 0, 0, 0]));
    expect(await exited).toBe(0);
  });

  it('a fork server dies with the worker process that started it, and its execution with it', async () => {
    // A separate node process, standing in for a worker, starts a fork server as the worker does
    // (--parent, the protocol's framing), starts a long run, and is killed with SIGKILL (no
    // cleanup code runs). It needs nothing compiled: the request is made here.
    const request = encodeFrame(REQUEST.run, encodeRunRequest(
      [
        ...['--no-seccomp', '--tmpfs', '/work:1048576:755', ...['/usr', '/bin', '/lib', '/lib64'].filter((p) => fs.existsSync(p)).flatMap((p) => ['--ro', p])],
        ...RAW_PHASE.slice(0, -3).map((w, i, a) => (a[i - 1] === '--wall-ms' || a[i - 1] === '--cpu-ms' ? '100000' : w)),
        ...['--exec', '2', '/bin/sleep', '120'],
      ], Buffer.alloc(0), Buffer.alloc(0)));
    const script = `
      const { spawn } = await import('node:child_process');
      const server = spawn(${JSON.stringify(defaultLauncherPath())}, ['--server', '--parent', String(process.pid)], { stdio: ['pipe', 'pipe', 'ignore'] });
      server.stdin.write(Buffer.from(${JSON.stringify(request.toString('base64'))}, 'base64'));
      setTimeout(() => console.log('ready'), 200);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`the worker process exited early (${code})`)));
      });
      // Under emulation the run may start well after 'ready': wait for its init.
      const running = () => listChildren(child.pid!).filter((p) => p.server && listChildren(p.pid).some((c) => !c.standby));
      expect(await waitFor(() => running().length > 0, 10_000 * suite.slow()), 'the run is going on in its init').toBe(true);
      const servers = listChildren(child.pid!).filter((p) => p.server);
      expect(servers.length).toBe(1);
      // The server's one child is the run's init: its standby became that init.
      const inits = listChildren(servers[0]!.pid);
      expect(inits.map((c) => c.standby)).toEqual([false]);
      child.kill('SIGKILL');
      expect(await waitFor(() => !alive(servers[0]!.pid) && !alive(inits[0]!.pid), 5000 * suite.slow())).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

function listChildren(ppid: number): { pid: number; server: boolean; standby: boolean }[] {
  const out: { pid: number; server: boolean; standby: boolean }[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== ppid) continue;
      out.push({
        pid: Number(e),
        server: fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')[1] === '--server',
        standby: fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() === 'cx-standby',
      });
    } catch {
      // gone
    }
  }
  return out;
}
