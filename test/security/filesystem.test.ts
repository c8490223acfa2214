import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, makeHostTempDir, py, reportOf, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// Attacks on the host's files: reading what is not the program's, writing outside its working
// directory, symlink tricks, device nodes, /proc and /sys, setuid binaries, chroot escapes.

// Setuid/setgid programs found on common distributions; the test tries those present on this host
// (not unix_chkpwd: run by hand it sleeps ~10 s before failing, by design).
const SETUID_CANDIDATES = [
  '/usr/bin/su', '/usr/bin/passwd', '/usr/bin/mount', '/usr/bin/umount', '/usr/bin/newgrp', '/usr/bin/chsh', '/usr/bin/chfn',
  '/usr/bin/gpasswd', '/usr/bin/newuidmap', '/usr/bin/newgidmap', '/usr/bin/fusermount3', '/usr/bin/fusermount', '/usr/bin/sudo',
  '/usr/bin/pkexec', '/usr/bin/chage', '/usr/bin/expiry', '/usr/bin/ssh-agent', '/usr/bin/crontab', '/usr/bin/wall',
  '/usr/lib/openssh/ssh-keysign', '/usr/lib/dbus-1.0/dbus-daemon-launch-helper',
];

// pid 1's files: EACCES (root-owned), or ENOENT where /proc is mounted with hidepid.
const DENIED_PROC1 = ['EACCES', 'ENOENT'];

const SECRET = `codexec-secret-${process.pid}-${Date.now()}`;

describe.skipIf(!IS_ROOT)(`attack: files${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();
  const hostDirs: string[] = [];
  const hostDir = (prefix: string) => {
    const d = makeHostTempDir(prefix);
    hostDirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of hostDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  // The SQLite database: a data directory like the worker's, with a database file holding a secret,
  // opened by its absolute host path, by its directory, and through the repository's default
  // ./data path. None of them exists in the sandbox.
  it('cannot read the data directory (SQLite database) by its host path', async () => {
    const dataDir = hostDir('data');
    const db = path.join(dataDir, 'codexec.db');
    fs.writeFileSync(db, `SQLite format 3\0${SECRET}`);
    const repoData = path.resolve('data', 'codexec.db');
    const { outcome } = await s.run(
      'python',
      py(`for name, p in (('db', ${JSON.stringify(db)}), ('dir', ${JSON.stringify(dataDir)}), ('repo', ${JSON.stringify(repoData)}), ('cwd', ${JSON.stringify(process.cwd())})):
    out[name] = attempt(lambda: open(p, 'rb').read() and None)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome)).toEqual({ db: 'ENOENT', dir: 'ENOENT', repo: 'ENOENT', cwd: 'ENOENT' });
    expect(outcome.stdout).not.toContain(SECRET);
  });

  // /etc/shadow and friends: the sandbox's /etc holds only what the launcher wrote plus a few
  // library files; the host's secrets are not there. /root and /home are not there either.
  it('cannot read /etc/shadow, /root or /home; /etc holds only the sandbox identity files', async () => {
    const { outcome } = await s.run(
      'python',
      py(`for p in ('/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/ssh', '/root', '/home', '/var', '/run', '/srv', '/mnt', '/opt'):
    out[p] = attempt(lambda: os.stat(p) and None)
out['etc'] = sorted(os.listdir('/etc'))
out['passwd'] = open('/etc/passwd').read()
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, unknown>;
    for (const p of ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/ssh', '/root', '/home', '/var', '/run', '/srv', '/mnt', '/opt']) expect(r[p], p).toBe('ENOENT');
    const allowed = ['alternatives', 'group', 'hostname', 'hosts', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'passwd'];
    for (const name of r.etc as string[]) expect(allowed, `/etc/${name}`).toContain(name);
    expect(String(r.passwd).split('\n').filter(Boolean)).toHaveLength(2);
  });

  // pid 1 inside is the launcher's init, running as root: its environment, memory, descriptors and
  // root directory are out of reach (EACCES; ENOENT if /proc hides other users' processes),
  // whatever its pid number.
  it('cannot read /proc/1/environ, mem, fd or root (the launcher, root-owned)', async () => {
    const { outcome } = await s.run(
      'python',
      py(`out['environ'] = attempt(lambda: open('/proc/1/environ', 'rb').read() and None)
out['mem'] = attempt(lambda: open('/proc/1/mem', 'rb').read(1) and None)
out['fd'] = attempt(lambda: os.listdir('/proc/1/fd') and None)
out['fd4'] = attempt(lambda: open('/proc/1/fd/4', 'wb') and None)
out['root'] = attempt(lambda: os.listdir('/proc/1/root') and None)
out['cwd'] = attempt(lambda: os.readlink('/proc/1/cwd') and None)
out['uid1'] = attempt(lambda: [l for l in open('/proc/1/status') if l.startswith('Uid:')][0].split()[1])
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, string>;
    expect(Object.keys(r).sort()).toEqual(['cwd', 'environ', 'fd', 'fd4', 'mem', 'root', 'uid1']);
    for (const k of ['environ', 'mem', 'fd', 'fd4', 'root', 'cwd']) expect(DENIED_PROC1, `${k}: ${r[k]}`).toContain(r[k]);
    expect(['0', 'ENOENT']).toContain(r.uid1);
  });

  // /proc is mounted with hidepid: init (root) is invisible, its command line included; the
  // program's own processes are all it lists.
  it('sees only its own processes in /proc (hidepid)', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import subprocess
child = subprocess.Popen(['/bin/sleep', '5'])
out['pids'] = sorted(int(n) for n in os.listdir('/proc') if n.isdigit())
out['me'] = os.getpid()
out['child'] = child.pid
out['cmdline1'] = attempt(lambda: open('/proc/1/cmdline', 'rb').read() and None)
out['stat1'] = attempt(lambda: os.stat('/proc/1') and None)
child.kill()
`),
      { limits: { processes: 8 } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as { pids: number[]; me: number; child: number; cmdline1: string; stat1: string };
    expect(r.pids).toEqual([r.me, r.child].sort((a, b) => a - b));
    expect(r.cmdline1).toBe('ENOENT');
    expect(r.stat1).toBe('ENOENT');
  });

  // The worker's environment: a secret in the test process's environment (where the worker keeps
  // its configuration and credentials) must not appear in the program's environment nor in any
  // /proc/*/environ or cmdline it can read. Checked from Python and from Node.
  it('cannot see the worker environment (python)', async () => {
    process.env.SECRET_TOKEN = SECRET;
    try {
      const { outcome } = await s.run(
        'python',
        py(`secret = os.environ.get('SECRET_TOKEN')
found = []
for k, v in os.environ.items():
    if 'codexec-secret' in v or 'SECRET' in k:
        found.append(k)
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    for f in ('environ', 'cmdline'):
        try:
            if b'codexec-secret' in open('/proc/%s/%s' % (pid, f), 'rb').read():
                found.append('/proc/%s/%s' % (pid, f))
        except OSError:
            pass
out['secret'] = secret
out['found'] = found
out['env'] = sorted(os.environ)
`),
      );
      expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
      const r = reportOf(outcome);
      expect(r.secret).toBeNull();
      expect(r.found).toEqual([]);
      // Only codexec's own variables and the profile's (Python may add LC_CTYPE for locale coercion).
      const allowed = ['HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'PATH', 'PYTHONIOENCODING', 'PYTHONUNBUFFERED', 'TMPDIR'];
      for (const k of r.env as string[]) expect(allowed, k).toContain(k);
      expect(outcome.stdout).not.toContain(SECRET);
    } finally {
      delete process.env.SECRET_TOKEN;
    }
  });

  it('cannot see the worker environment (javascript)', async () => {
    process.env.SECRET_TOKEN = SECRET;
    try {
      const { outcome } = await s.run('javascript', 'console.log(JSON.stringify({ secret: process.env.SECRET_TOKEN ?? null, keys: Object.keys(process.env).sort() }));\n');
      expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
      const r = reportOf(outcome);
      expect(r.secret).toBeNull();
      expect(r.keys).toEqual(['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']);
    } finally {
      delete process.env.SECRET_TOKEN;
    }
  });

  // The same reads from Node's fs: host secrets, the launcher's environment, a host data file.
  it('javascript fs reads see only the sandbox', async () => {
    const dataDir = hostDir('jsdata');
    const db = path.join(dataDir, 'codexec.db');
    fs.writeFileSync(db, SECRET);
    const { outcome } = await s.run(
      'javascript',
      `const fs = require('fs');
const out = {};
for (const p of ['/etc/shadow', '/proc/1/environ', '/root/.bashrc', ${JSON.stringify(db)}]) {
  try { fs.readFileSync(p); out[p] = 'ok'; } catch (e) { out[p] = e.code; }
}
try { fs.writeFileSync('/usr/planted', 'x'); out.write = 'ok'; } catch (e) { out.write = e.code; }
console.log(JSON.stringify(out));
`,
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(DENIED_PROC1).toContain(r['/proc/1/environ']);
    expect({ ...r, '/proc/1/environ': 'denied' }).toEqual({ '/etc/shadow': 'ENOENT', '/proc/1/environ': 'denied', '/root/.bashrc': 'ENOENT', [db]: 'ENOENT', write: 'EROFS' });
  });

  // Writing outside the working directory: the root, the system directories and /etc are
  // read-only (EROFS), /proc and /dev cannot take new files; only /work and /tmp are writable.
  it('cannot write outside the working directory and /tmp', async () => {
    const { outcome } = await s.run(
      'python',
      py(`def create(p):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
for p in ('/x', '/usr/x', '/usr/bin/x', '/etc/x', '/etc/passwd', '/bin/x', '/lib/x', '/dev/x', '/proc/x', '/home/x', '/work/ok', '/tmp/ok'):
    out[p] = attempt(lambda: create(p))
out['etc_passwd_append'] = attempt(lambda: open('/etc/passwd', 'a').close())
out['mkdir_root'] = attempt(lambda: os.mkdir('/newdir'))
out['rename_usr'] = attempt(lambda: os.rename('/usr', '/usr2'))
out['chmod_root'] = attempt(lambda: os.chmod('/', 0o777))
out['unlink_passwd'] = attempt(lambda: os.unlink('/etc/passwd'))
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, string>;
    expect(r['/work/ok']).toBe('ok');
    expect(r['/tmp/ok']).toBe('ok');
    for (const [p, v] of Object.entries(r)) {
      if (p === '/work/ok' || p === '/tmp/ok') continue;
      expect(['EROFS', 'EACCES', 'ENOENT', 'EPERM', 'EEXIST', 'EBUSY'], `${p}: ${v}`).toContain(v);
    }
  });

  // Symlinks pointing out of the working directory: a link to /etc/shadow, to a host file by its
  // absolute path, and through /proc/1/root resolve inside the sandbox's own view only.
  it('symlinks out of the working directory see only the sandbox', async () => {
    const dir = hostDir('symlink');
    const target = path.join(dir, 'secret.txt');
    fs.writeFileSync(target, SECRET);
    const { outcome } = await s.run(
      'python',
      py(`links = {'shadow': '/etc/shadow', 'host_file': ${JSON.stringify(target)}, 'proc1_root': '/proc/1/root/etc/hostname', 'parent': '../../../../../etc/shadow', 'proc_self_root': '/proc/self/root/etc/shadow'}
for name, t in links.items():
    os.symlink(t, '/work/' + name)
    out[name] = attempt(lambda: open('/work/' + name).read() and None)
os.link('/work/main.py', '/work/hard')
out['hardlink_passwd'] = attempt(lambda: os.link('/etc/passwd', '/work/pw'))
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(DENIED_PROC1).toContain(r.proc1_root);
    expect({ ...r, proc1_root: 'denied' }).toEqual({
      shadow: 'ENOENT',
      host_file: 'ENOENT',
      proc1_root: 'denied',
      parent: 'ENOENT',
      proc_self_root: 'ENOENT',
      hardlink_passwd: 'EXDEV',
    });
    expect(outcome.stdout).not.toContain(SECRET);
  });

  // /sys is not mounted (it would show the host's devices, cgroups and kernel settings), and /dev
  // holds exactly null, zero, full, random and urandom (plus the fd/stdin/stdout/stderr links).
  it('/sys is absent and /dev has only the five harmless devices', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import stat
out['sys'] = attempt(lambda: os.listdir('/sys') and None)
devs, links = [], []
for n in sorted(os.listdir('/dev')):
    st = os.lstat('/dev/' + n)
    (links if stat.S_ISLNK(st.st_mode) else devs).append(n)
out['devs'] = devs
out['links'] = links
out['dev_mem'] = attempt(lambda: open('/dev/mem', 'rb').close())
out['mknod'] = attempt(lambda: os.mknod('/tmp/sda', 0o600 | stat.S_IFBLK, os.makedev(8, 0)))
out['mknod_char'] = attempt(lambda: os.mknod('/work/kmsg', 0o600 | stat.S_IFCHR, os.makedev(1, 11)))
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome)).toEqual({
      sys: 'ENOENT',
      devs: ['full', 'null', 'random', 'urandom', 'zero'],
      links: ['fd', 'stderr', 'stdin', 'stdout'],
      dev_mem: 'ENOENT',
      mknod: 'EPERM',
      mknod_char: 'EPERM',
    });
  });

  // Kernel memory and kernel settings through /proc: /proc/kcore is root-only, /proc/sys and
  // /proc/sysrq-trigger cannot be written, and kernel addresses in /proc/kallsyms are hidden.
  it('cannot read /proc/kcore or write /proc/sys and /proc/sysrq-trigger', async () => {
    const { outcome } = await s.run(
      'python',
      py(`out['kcore'] = attempt(lambda: open('/proc/kcore', 'rb').read(16) and None)
for p in ('/proc/sys/kernel/hostname', '/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sys/kernel/ns_last_pid', '/proc/sysrq-trigger'):
    def w():
        with open(p, 'w') as f:
            f.write('1')
    out[p] = attempt(w)
lines = open('/proc/kallsyms').read().splitlines()[:50]
out['kallsyms_nonzero'] = sum(1 for l in lines if l.split()[0].strip('0'))
def lower_oom_score():
    fd = os.open('/proc/self/oom_score_adj', os.O_WRONLY)
    try:
        os.write(fd, b'-1000')
    finally:
        os.close(fd)
out['oom_score_adj_lower'] = attempt(lower_oom_score)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, unknown>;
    // Kernels built without CONFIG_PROC_KCORE (like this machine's) have no /proc/kcore at all.
    expect(r.kcore).toBe(fs.existsSync('/proc/kcore') ? 'EACCES' : 'ENOENT');
    for (const p of ['/proc/sys/kernel/hostname', '/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sys/kernel/ns_last_pid', '/proc/sysrq-trigger'])
      expect(fs.existsSync(p) ? ['EACCES', 'EPERM', 'EROFS'] : ['ENOENT'], `${p}: ${String(r[p])}`).toContain(r[p]);
    expect(r.kallsyms_nonzero).toBe(0);
    expect(['EACCES', 'EPERM']).toContain(r.oom_score_adj_lower);
  });

  // chroot escapes: chroot() itself is denied (EPERM), and walking up from /work with ".." ends at
  // the sandbox's own root, where only the launcher's skeleton is.
  it('chroot escape attempts fail and ".." ends at the sandbox root', async () => {
    const { outcome } = await s.run(
      'python',
      py(`os.mkdir('/work/jail')
out['chroot'] = attempt(lambda: os.chroot('/work/jail'))
out['chroot_dot'] = attempt(lambda: os.chroot('.'))
fd = os.open('/', os.O_RDONLY)
out['fchdir_root'] = attempt(lambda: os.fchdir(fd))
for _ in range(20):
    os.chdir('..')
out['cwd'] = os.getcwd()
out['root'] = sorted(os.listdir('.'))
out['pivot_root'] = sc(155, b'/work', b'/work/jail')
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, unknown>;
    expect(r).toMatchObject({ chroot: 'EPERM', chroot_dot: 'EPERM', fchdir_root: 'ok', cwd: '/', pivot_root: 'EPERM' });
    const skeleton = ['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'sbin', 'tmp', 'usr', 'work'];
    for (const name of r.root as string[]) expect(skeleton, `/${name}`).toContain(name);
  });

  // Setuid and setgid binaries: the system's (setuid root on the host: su, passwd, mount,
  // fusermount3, newuidmap, ...) run without gaining anything, since the bind mounts are nosuid and
  // no_new_privs is set: the dynamic loader's auxiliary vector (LD_SHOW_AUXV, printed before main;
  // a privileged start would drop the variable) shows the effective uid and gid unchanged and
  // not-secure mode. `su -c id` fails. A copy the program makes setuid itself gains nothing (its
  // owner is the program's own uid, and /work is nosuid too).
  it('setuid and setgid binaries do not grant privileges', async () => {
    const binaries = SETUID_CANDIDATES.filter((p) => {
      try {
        const st = fs.statSync(p);
        // Executable by anyone (the program's uid is "other" to every file of the host).
        return st.isFile() && (st.mode & 0o6000) !== 0 && (st.mode & 0o001) !== 0;
      } catch {
        return false;
      }
    });
    expect(binaries.length, 'setuid/setgid binaries on the host to try').toBeGreaterThan(0);
    const { outcome } = await s.run(
      'python',
      py(`import shutil, subprocess
def auxv(path):
  try:
    return auxv_of(path)
  except Exception as e:
    return {'error': repr(e)[:300]}
def auxv_of(path):
    try:
        r = subprocess.run([path, '--codexec-invalid-option'], env={'LD_SHOW_AUXV': '1'}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=${5 * s.slow()})
        text = r.stdout
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b'').decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
    aux = dict(l.split(':', 1) for l in text.splitlines() if l.startswith('AT_') and ':' in l)
    return {k: aux.get(k, '').strip() for k in ('AT_EUID', 'AT_EGID', 'AT_SECURE')}
out['me'] = {'AT_EUID': str(os.geteuid()), 'AT_EGID': str(os.getegid()), 'AT_SECURE': '0'}
out['binaries'] = {b: auxv(b) for b in ${JSON.stringify(binaries)}}
out['setuid_bit_visible'] = bool(os.stat(${JSON.stringify(binaries[0])}).st_mode & 0o6000)
su = subprocess.run(['/usr/bin/su', '-c', 'id -u', 'root'], stdin=subprocess.DEVNULL, capture_output=True, text=True) if os.path.exists('/usr/bin/su') else None
out['su_rc'] = su.returncode if su else 'absent'
out['su_root'] = bool(su) and su.stdout.strip() == '0'
shutil.copy(${JSON.stringify(binaries[0])}, '/work/copy')
os.chmod('/work/copy', 0o6755)
out['copy_owner'] = os.stat('/work/copy').st_uid
out['copy'] = auxv('/work/copy')
out['euid_after'] = os.geteuid()
`),
      { overrides: { wallTimeMs: 20_000 } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, any>;
    expect(r.setuid_bit_visible).toBe(true);
    for (const b of binaries) expect(r.binaries[b], b).toEqual(r.me);
    expect(r.su_root).toBe(false);
    if (r.su_rc !== 'absent') expect(r.su_rc).not.toBe(0);
    expect(String(r.copy_owner)).toBe(r.me.AT_EUID);
    expect(r.copy).toEqual(r.me);
    expect(String(r.euid_after)).toBe(r.me.AT_EUID);
  });
});
