import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cgroupEntryCheck, resourceChecks, runDoctor } from '../../src/cli/doctor-checks.js';
import { loadConfig } from '../../src/config/load.js';
import { detectCgroups, releaseWorkerDir } from '../../src/sandbox/cgroups/index.js';

// `codexec doctor` tells the operator how executions are kept from the host's huge pages and disks
// (issue 12): what it says is checked against what the kernel shows, independently of the code
// that decided it.

describe('codexec doctor: huge pages and disk I/O', () => {
  it('a host that limits both reports ok; one that cannot reports a warning with what to enable', () => {
    const good = resourceChecks({ hugetlb: { limitedByCgroup: true, detail: 'limited to 0' }, io: { devices: ['8:0'], detail: 'throttled on 8:0' } });
    expect(good.map((c) => [c.name, c.ok, c.warning, c.hint])).toEqual([
      ['hugetlb', true, undefined, undefined],
      ['disk I/O', true, undefined, undefined],
    ]);
    const bare = resourceChecks({ hugetlb: { limitedByCgroup: false, detail: 'no hugetlb controller' }, io: { devices: [], detail: 'no io controller' } });
    expect(bare.map((c) => [c.name, c.ok, c.warning])).toEqual([
      ['hugetlb', false, true],
      ['disk I/O', false, true],
    ]);
    expect(bare[0]!.hint).toMatch(/hugetlb controller/);
    expect(bare[1]!.hint).toMatch(/io \(v2\) or blkio \(v1\)/);
  });
});

describe('codexec doctor: how programs enter their cgroups', () => {
  const hybrid = 'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n';
  it('pure v2 on Linux >= 5.7 clones into the cgroup; older v2 and v1 migrate, a warning with the remedy', () => {
    expect(cgroupEntryCheck(2, '6.1.0-50-amd64', 'cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n')).toMatchObject({ ok: true, detail: expect.stringMatching(/CLONE_INTO_CGROUP/) });
    expect(cgroupEntryCheck(2, '5.6.19', 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n')).toMatchObject({ ok: false, warning: true, detail: expect.stringMatching(/5\.6 \(< 5\.7/) });
    const v1 = cgroupEntryCheck(1, '6.18.44', hybrid);
    expect(v1).toMatchObject({ ok: false, warning: true, detail: expect.stringMatching(/^cgroup v1: .*RCU grace period/) });
    expect(v1.hint).toMatch(/favordynmods/);
  });

  it('a cgroup2 mount with favordynmods makes migrations fast: ok, naming the mount', () => {
    const favored = hybrid.replace('cgroup2 rw,relatime 0 0', 'cgroup2 rw,relatime,favordynmods 0 0');
    expect(cgroupEntryCheck(1, '6.18.44', favored)).toMatchObject({ ok: true, detail: expect.stringMatching(/favordynmods is set on \/sys\/fs\/cgroup\/unified/) });
    // The option of another file system, or a cgroup v1 mount, does not count.
    expect(cgroupEntryCheck(1, '6.18.44', `${hybrid}tmpfs /favordynmods tmpfs rw 0 0\ncgroup /x cgroup rw,favordynmods 0 0\n`).ok).toBe(false);
  });
});

/**
 * The cgroup controllers this process may use, as the kernel lists them: on v2 those of the group
 * it was started in (read before codexec moves it; under systemd, what the unit was delegated,
 * which need not include hugetlb), on v1 the mounted hierarchies.
 */
function kernelControllers(): Set<string> {
  const out = new Set<string>();
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  const v2 = own !== undefined ? `/sys/fs/cgroup${own.slice(3).replace(/\/$/, '')}/cgroup.controllers` : '';
  if (v2 !== '' && fs.existsSync(v2)) for (const c of fs.readFileSync(v2, 'utf8').trim().split(/\s+/)) if (c) out.add(c);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [, right] = line.split(' - ');
    if (right?.startsWith('cgroup ')) for (const o of right.split(' ')[2]!.split(',')) out.add(o);
  }
  return out;
}
const CONTROLLERS_AT_START = kernelControllers();

/** "MAJ:MIN" of the disk holding /usr, as util-linux sees it (a partition's disk when it is one). */
function usrDisk(): string | null {
  try {
    const dev = execFileSync('findmnt', ['-n', '-o', 'MAJ:MIN', '--target', '/usr'], { encoding: 'utf8' }).trim();
    if (!fs.existsSync(`/sys/dev/block/${dev}`)) return null;
    if (!fs.existsSync(`/sys/dev/block/${dev}/partition`)) return dev;
    return fs.readFileSync(`${fs.realpathSync(`/sys/dev/block/${dev}`)}/../dev`, 'utf8').trim();
  } catch {
    return null;
  }
}

const isRoot = process.geteuid?.() === 0;

describe.skipIf(!isRoot)('codexec doctor on this host (needs root)', () => {
  const config = loadConfig({});
  afterAll(async () => {
    // The doctor's smoke test made this process's worker directory: leave the host as it was.
    await releaseWorkerDir(detectCgroups({ parent: config.cgroupParent || undefined }));
  });

  it('reports the hugetlb and disk I/O state the kernel shows', async () => {
    const checks = await runDoctor(config);
    const by = (name: string) => checks.find((c) => c.name === name);
    expect(by('sandbox smoke test'), JSON.stringify(checks)).toMatchObject({ ok: true });
    const controllers = CONTROLLERS_AT_START;
    const hugetlb = by('hugetlb')!;
    expect(hugetlb.ok).toBe(controllers.has('hugetlb'));
    expect(hugetlb.detail).toMatch(controllers.has('hugetlb') ? /^limited to 0 in every execution group/ : /^no hugetlb controller/);
    const io = by('disk I/O')!;
    const disk = usrDisk();
    const ioController = controllers.has('io') || controllers.has('blkio');
    expect(io.ok, io.detail).toBe(ioController && disk !== null);
    if (io.ok) expect(io.detail).toContain(disk!);
    if (controllers.has('io') && !controllers.has('blkio')) expect(io.detail).toMatch(/io\.weight|weighted/);
  }, 120_000);

  it('says how programs enter their cgroups as the mounts show it: cloned in on pure v2, a migration on v1', async () => {
    const checks = await runDoctor(config);
    const entry = checks.find((c) => c.name === 'cgroup entry')!;
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    const pureV2 = mounts.some((f) => f[1] === '/sys/fs/cgroup' && f[2] === 'cgroup2');
    const favored = mounts.some((f) => f[2] === 'cgroup2' && (f[3] ?? '').split(',').includes('favordynmods'));
    expect(entry.ok, entry.detail).toBe(pureV2 || favored);
    expect(entry.detail).toMatch(pureV2 ? /CLONE_INTO_CGROUP/ : /migration/);
    if (!entry.ok) expect(entry.hint).toMatch(/favordynmods/);
  }, 120_000);
});
