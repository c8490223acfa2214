import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, IS_X86_64, py, reportOf, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// Attacks through the kernel's interface: system calls that cross the sandbox's boundaries, and
// the identity the program runs with. Raw calls go through ctypes with x86_64 numbers; every
// probe uses arguments that would be harmless even if the filter let the call through (bogus
// descriptors, invalid flags), so a failing test cannot change the host.

/** Whether an i386 `int 0x80` getpid works on this host outside any sandbox. */
function hostCanInt80(): boolean {
  const code = String.raw`import ctypes, mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(b'\xb8\x14\x00\x00\x00\xcd\x80\xc3')
ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()`;
  return spawnSync('/usr/bin/python3', ['-I', '-c', code], { stdio: 'ignore' }).status === 0;
}

const ROOTLESS_PROBE = IS_ROOT && IS_X86_64;

describe.skipIf(!IS_ROOT)(`attack: identity${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  // Who the program is: an unprivileged uid of the sandbox range, no supplementary groups, no
  // capabilities, no_new_privs, a seccomp filter, hostname "codexec", its own cgroup namespace
  // (every hierarchy shows "/"), and a read-only, nosuid view of the system.
  it('runs unprivileged: uid range, no groups, no capabilities, NoNewPrivs, seccomp, own namespaces', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import socket
st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
out['uid'] = [int(x) for x in st['Uid'].split()]
out['gid'] = [int(x) for x in st['Gid'].split()]
out['groups'] = st['Groups'].strip()
out['caps'] = {k: st[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb', 'CapBnd')}
out['nnp'] = st['NoNewPrivs'].strip()
out['seccomp'] = st['Seccomp'].strip()
out['hostname'] = socket.gethostname()
out['uts'] = open('/proc/sys/kernel/hostname').read().strip()
out['cgroup'] = sorted(set(l.split(':', 2)[2] for l in open('/proc/self/cgroup').read().splitlines()))
mounts = [l.split(' - ')[0].split(' ') + l.split(' - ')[1].split(' ') for l in open('/proc/self/mountinfo').read().splitlines()]
out['mounts'] = {m[4]: {'opts': m[5].split(','), 'fs': m[-3]} for m in mounts}
out['pids'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
out['setuid0'] = attempt(lambda: os.setuid(0))
out['setgroups'] = attempt(lambda: os.setgroups([0]))
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, any>;
    const base = s.env().settings.uidBase;
    const [uid] = r.uid as number[];
    expect(uid).toBeGreaterThanOrEqual(base);
    expect(uid).toBeLessThan(base + 65536);
    expect(r.uid).toEqual([uid, uid, uid, uid]);
    expect((r.gid as number[]).every((g) => g >= base && g < base + 65536)).toBe(true);
    expect(r.groups).toBe('');
    expect(r.caps).toEqual({ CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000', CapAmb: '0000000000000000', CapBnd: '0000000000000000' });
    expect(r.nnp).toBe('1');
    expect(r.seccomp).toBe('2');
    expect(r.hostname).toBe('codexec');
    expect(r.uts).toBe('codexec');
    expect(r.cgroup).toEqual(['/']);
    // pid 1 (the launcher's init, unless /proc hides it) and the program itself; nothing of the host.
    expect((r.pids as number[]).filter((p) => p !== 1)).toEqual([2]);
    expect(r.setuid0).toBe('EPERM');
    expect(r.setgroups).toBe('EPERM');
    const mounts = r.mounts as Record<string, { opts: string[]; fs: string }>;
    expect(mounts['/'].opts).toContain('ro');
    for (const [point, m] of Object.entries(mounts)) {
      expect(m.opts, `${point} nosuid`).toContain('nosuid');
      expect(['sysfs', 'cgroup', 'cgroup2', 'devpts', 'mqueue', 'debugfs', 'securityfs', 'bpf', 'tracefs'], `${point} is ${m.fs}`).not.toContain(m.fs);
      // Writable: the two tmpfs, /proc (its files check permissions themselves) and the device nodes.
      if (point !== '/work' && point !== '/tmp' && point !== '/proc' && !point.startsWith('/dev/')) expect(m.opts, `${point} read-only`).toContain('ro');
    }
    expect(mounts['/work']).toMatchObject({ fs: 'tmpfs' });
    expect(mounts['/tmp']).toMatchObject({ fs: 'tmpfs' });
  });

  // Every namespace but the user namespace is the execution's own (DESIGN.md explains why no user
  // namespace: the program would hold every capability inside one). The inode numbers of
  // /proc/self/ns/* tell namespaces apart; the host's are read here, outside.
  it('has its own pid, mount, net, ipc, uts and cgroup namespaces', async () => {
    const names = ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'user'];
    const hostNs = Object.fromEntries(names.map((n) => [n, fs.readlinkSync(`/proc/self/ns/${n}`)]));
    const { outcome } = await s.run('python', py(`for n in ${JSON.stringify(names)}:\n    out[n] = os.readlink('/proc/self/ns/' + n)\n`));
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, string>;
    for (const n of ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup']) expect(r[n], n).not.toBe(hostNs[n]);
    expect(r.user).toBe(hostNs.user);
  });

  // Limits cannot be raised from inside: hard rlimits (CPU, file size, open files, core, locked
  // memory) are fixed, nice cannot go below 0, real-time scheduling and mlock are refused, and the
  // open-files limit holds (EMFILE).
  it('cannot raise its limits, its priority or lock memory', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import resource
def raise_hard(res):
    soft, hard = resource.getrlimit(res)
    try:
        resource.setrlimit(res, (soft, resource.RLIM_INFINITY))
        return 'ok'
    except ValueError:
        return 'refused'
    except OSError as e:
        return ename(e.errno)
for name in ('RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_MEMLOCK'):
    out[name] = raise_hard(getattr(resource, name))
out['core'] = resource.getrlimit(resource.RLIMIT_CORE)
out['nice_down'] = attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, -5))
out['sched_fifo'] = attempt(lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
libc.mlockall.restype = ctypes.c_int
out['mlockall'] = 'ok' if libc.mlockall(3) == 0 else ename(ctypes.get_errno())
fds = []
try:
    while len(fds) < 10000:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    out['open_files'] = ename(e.errno)
out['opened'] = len(fds)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, unknown>;
    for (const name of ['RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_MEMLOCK']) expect(['refused', 'EPERM'], name).toContain(r[name]);
    expect(r.core).toEqual([0, 0]);
    expect(r.nice_down).toBe('EACCES');
    expect(r.sched_fifo).toBe('EPERM');
    expect(['EPERM', 'ENOMEM']).toContain(r.mlockall);
    expect(r.open_files).toBe('EMFILE');
    expect(r.opened as number).toBeLessThan(64);
  });

  // A crashing program (SIGSEGV) ends as a runtime error and dumps no core: RLIMIT_CORE is 0 and
  // the working directory holds no core file afterwards.
  it('a crash is a runtime error and leaves no core dump', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import signal
pid = os.fork()
if pid == 0:
    ctypes.string_at(0)
st = os.waitpid(pid, 0)[1]
out['child'] = signal.Signals(os.WTERMSIG(st)).name if os.WIFSIGNALED(st) else 'exit'
out['core_dumped'] = os.WCOREDUMP(st)
out['files'] = sorted(os.listdir('/work')) + sorted(os.listdir('/tmp'))
report()
ctypes.string_at(0)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('runtime_error');
    expect(outcome.signal).toBe('SIGSEGV');
    const r = JSON.parse(outcome.stdout.trim().split('\n')[0]) as Record<string, unknown>;
    expect(r).toEqual({ child: 'SIGSEGV', core_dumped: false, files: ['main.py'] });
  });
});

describe.skipIf(!ROOTLESS_PROBE)(`attack: system calls${IS_ROOT ? (IS_X86_64 ? '' : ' (x86_64 numbers: skipped on this architecture)') : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  // One probe per denied call; each result is the errno name, or 'ok' if the call went through.
  async function probe(body: string): Promise<Record<string, unknown>> {
    const { outcome } = await s.run('python', py(body), { overrides: { wallTimeMs: 5000 * s.slow() } });
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    return reportOf(outcome);
  }

  // ptrace: attach to pid 1 or trace oneself; reading another process's memory with process_vm_readv.
  it('ptrace and process_vm_readv are denied', async () => {
    const r = await probe(`out['traceme'] = sc(101, 0, 0, 0, 0)
out['attach_1'] = sc(101, 16, 1, 0, 0)
out['process_vm_readv'] = sc(310, 1, 0, 0, 0, 0, 0)
out['kcmp'] = sc(312, 1, 1, 0, 0, 0)
out['pidfd_getfd'] = sc(438, -1, 0, 0)`);
    expect(r).toEqual({ traceme: 'EPERM', attach_1: 'EPERM', process_vm_readv: 'EPERM', kcmp: 'EPERM', pidfd_getfd: 'EPERM' });
  });

  // mount, umount, pivot_root, chroot and the new mount API.
  it('mount and the mount API are denied', async () => {
    const r = await probe(`out['mount'] = sc(165, b'none', b'/tmp', b'tmpfs', 0, 0)
out['umount2'] = sc(166, b'/tmp', 2)
out['pivot_root'] = sc(155, b'/tmp', b'/tmp')
out['chroot'] = sc(161, b'/tmp')
out['fsopen'] = sc(430, b'tmpfs', 0)
out['open_tree'] = sc(428, -100, b'/', 1)
out['move_mount'] = sc(429, -1, b'', -1, b'', 0)`);
    expect(r).toEqual({ mount: 'EPERM', umount2: 'EPERM', pivot_root: 'EPERM', chroot: 'EPERM', fsopen: 'EPERM', open_tree: 'EPERM', move_mount: 'EPERM' });
  });

  // unshare and setns: a new user namespace would give the program every capability inside it,
  // which opens much of the kernel's attack surface.
  it('unshare and setns are denied', async () => {
    const r = await probe(`out['unshare_user'] = sc(272, 0x10000000)
out['unshare_mnt'] = sc(272, 0x00020000)
out['unshare_net'] = sc(272, 0x40000000)
out['setns'] = sc(308, -1, 0)`);
    expect(r).toEqual({ unshare_user: 'EPERM', unshare_mnt: 'EPERM', unshare_net: 'EPERM', setns: 'EPERM' });
  });

  // clone with namespace flags is denied (the filter checks clone's flags argument), clone3 answers
  // ENOSYS (its flags are in memory seccomp cannot read; libc falls back to clone), while threads,
  // fork and subprocesses keep working.
  it('clone with CLONE_NEWUSER fails, clone3 is ENOSYS, threads and fork work', async () => {
    const r = await probe(`import threading, subprocess
def raw_clone(flags):
    libc.syscall.restype = ctypes.c_long
    ctypes.set_errno(0)
    pid = libc.syscall(ctypes.c_long(56), ctypes.c_long(flags), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        return 'ok'
    return ename(ctypes.get_errno())
out['clone_newuser'] = raw_clone(0x10000000 | 17)
out['clone_newpid'] = raw_clone(0x20000000 | 17)
out['clone_newns'] = raw_clone(0x00020000 | 17)
out['clone_plain'] = raw_clone(17)
out['clone3'] = sc(435, 0, 0)
box = []
t = threading.Thread(target=lambda: box.append(1))
t.start(); t.join()
out['thread'] = box == [1]
pid = os.fork()
if pid == 0:
    os._exit(7)
out['fork'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
out['subprocess'] = subprocess.run(['/bin/true']).returncode`);
    expect(r).toEqual({
      clone_newuser: 'EPERM',
      clone_newpid: 'EPERM',
      clone_newns: 'EPERM',
      clone_plain: 'ok',
      clone3: 'ENOSYS',
      thread: true,
      fork: 7,
      subprocess: 0,
    });
  });

  // The kernel keyring: keyctl, add_key, request_key (keys outlive processes, per uid).
  it('keyctl, add_key and request_key are denied', async () => {
    const r = await probe(`out['keyctl'] = sc(250, 0, -3, 0)
out['add_key'] = sc(248, b'user', b'codexec', 0, 0, 0)
out['request_key'] = sc(249, b'user', b'codexec', 0, 0)`);
    expect(r).toEqual({ keyctl: 'EPERM', add_key: 'EPERM', request_key: 'EPERM' });
  });

  // io_uring (a large source of kernel bugs) and the old AIO interface.
  it('io_uring and AIO are denied', async () => {
    const r = await probe(`out['io_uring_setup'] = sc(425, 1, 0)
out['io_uring_enter'] = sc(426, -1, 0, 0, 0, 0, 0)
out['io_uring_register'] = sc(427, -1, 0, 0, 0)
out['io_setup'] = sc(206, 1, 0)`);
    expect(r).toEqual({ io_uring_setup: 'EPERM', io_uring_enter: 'EPERM', io_uring_register: 'EPERM', io_setup: 'EPERM' });
  });

  // open_by_handle_at (the "shocker" container escape) and name_to_handle_at.
  it('open_by_handle_at and name_to_handle_at are denied', async () => {
    const r = await probe(`out['open_by_handle_at'] = sc(304, -1, 0, 0)
out['name_to_handle_at'] = sc(303, -100, b'/', 0, 0, 0)`);
    expect(r).toEqual({ open_by_handle_at: 'EPERM', name_to_handle_at: 'EPERM' });
  });

  // bpf, perf_event_open and userfaultfd: kernel attack surface with no use for a learner.
  it('bpf, perf_event_open and userfaultfd are denied', async () => {
    const r = await probe(`out['bpf'] = sc(321, 0xffff, 0, 0)
out['perf_event_open'] = sc(298, 0, 0, -1, -1, 0)
out['userfaultfd'] = sc(323, 0x7fffffff)
out['fanotify_init'] = sc(300, 0, 0)`);
    expect(r).toEqual({ bpf: 'EPERM', perf_event_open: 'EPERM', userfaultfd: 'EPERM', fanotify_init: 'EPERM' });
  });

  // Changing the machine: kernel modules, kexec, reboot, swap, the clock, hostname, I/O ports,
  // process accounting, the kernel log.
  it('module loading, kexec, reboot, swapon, clock and hostname changes are denied', async () => {
    const r = await probe(`out['init_module'] = sc(175, 0, 0, b'')
out['finit_module'] = sc(313, -1, b'', 0)
out['delete_module'] = sc(176, b'codexec_none', 0)
out['kexec_load'] = sc(246, 0, 0, 0, 0)
out['reboot'] = sc(169, 0, 0, 0, 0)
out['swapon'] = sc(167, b'/nonexistent', 0)
out['clock_settime'] = sc(227, -1, 0)
out['settimeofday'] = sc(164, 0, 0)
buf = ctypes.create_string_buffer(256)
out['adjtimex'] = sc(159, buf)
out['sethostname'] = sc(170, b'x', 1)
out['iopl'] = sc(172, 3)
out['ioperm'] = sc(173, 0, 1, 1)
out['acct'] = sc(163, 0)
out['syslog'] = sc(103, 10, 0, 0)`);
    for (const [name, v] of Object.entries(r)) expect(v, name).toBe('EPERM');
    expect(Object.keys(r)).toHaveLength(14);
  });

  // personality: ADDR_NO_RANDOMIZE (turning off ASLR helps exploits) is denied; the query works.
  it('personality(ADDR_NO_RANDOMIZE) is denied', async () => {
    const r = await probe(`out['no_randomize'] = sc(135, 0x0040000)
out['query'] = sc(135, 0xffffffff)`);
    expect(r).toEqual({ no_randomize: 'EPERM', query: 'ok' });
  });

  // Calls through other ABIs: an x32 call (bit 30 set) and an i386 `int 0x80` call from a 64-bit
  // process would be looked up in other tables; the filter kills the process (SIGSYS).
  it('x32 and i386 system calls kill the process', async () => {
    const r = await probe(`import mmap, signal
def in_child(fn):
    pid = os.fork()
    if pid == 0:
        fn()
        os._exit(0)
    st = os.waitpid(pid, 0)[1]
    return signal.Signals(os.WTERMSIG(st)).name if os.WIFSIGNALED(st) else 'exit %d' % os.WEXITSTATUS(st)
out['x32'] = in_child(lambda: sc(0x40000000 | 39))
def i386():
    code = b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3'  # mov eax, 20 (getpid); int 0x80; ret
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    ctypes.CFUNCTYPE(ctypes.c_long)(addr)()
out['i386'] = in_child(i386)`);
    expect(r.x32).toBe('SIGSYS');
    // Some hosts cannot make i386 calls at all (no IA32 emulation, or a hypervisor without it): the
    // same code outside the sandbox tells what to expect.
    expect(r.i386).toBe(hostCanInt80() ? 'SIGSYS' : 'SIGSEGV');
  });

  // Sockets that leave the network namespace or need privileges: AF_VSOCK (reaches a hypervisor's
  // host), packet and raw sockets.
  it('AF_VSOCK, packet and raw sockets are refused', async () => {
    const r = await probe(`import socket
def sock(*a):
    s = socket.socket(*a)
    s.close()
out['vsock'] = attempt(lambda: sock(40, socket.SOCK_STREAM, 0))
out['packet'] = attempt(lambda: sock(17, socket.SOCK_RAW, 0))
out['raw'] = attempt(lambda: sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))`);
    expect(r).toEqual({ vsock: 'EPERM', packet: 'EPERM', raw: 'EPERM' });
  });

  // Terminal injection: TIOCSTI pushes characters into a terminal's input (a classic escape when a
  // sandbox shares the host's tty). The program has no terminal at all.
  it('has no terminal: TIOCSTI and /dev/tty fail', async () => {
    const r = await probe(`import fcntl, termios
for fd in (0, 1, 2):
    out['tiocsti_%d' % fd] = attempt(lambda: fcntl.ioctl(fd, termios.TIOCSTI, b'x') and None)
out['dev_tty'] = attempt(lambda: os.open('/dev/tty', os.O_RDWR))
out['isatty'] = [os.isatty(fd) for fd in (0, 1, 2)]`);
    expect(r).toMatchObject({ tiocsti_0: 'ENOTTY', tiocsti_1: 'ENOTTY', tiocsti_2: 'ENOTTY', dev_tty: 'ENOENT', isatty: [false, false, false] });
  });
});
