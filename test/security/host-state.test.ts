import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { defaultProfilesDir } from '../../src/languages/registry.js';
import { detectCgroups, releaseWorkerDir } from '../../src/sandbox/cgroups/index.js';
import { probeIsolation } from '../../src/sandbox/host.js';
import { IS_ROOT, makeHostTempDir, SKIP_MESSAGE, waitFor } from './helpers.js';
import { hostProblems, isClean, leftoverCgroups, leftoverProcesses, snapshotHost, unusedSpares, type HostStateOptions } from './host-state.js';

// The suite's "host left as it was" checks must be able to fail: each leftover kind is planted
// here by hand (a process of a sandbox uid, an execution cgroup, a mount, a sandbox-owned file in
// /tmp) and must be reported, then removed again.

describe.skipIf(!IS_ROOT)(`host-state checks detect leftovers${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  let opts: HostStateOptions;

  beforeAll(async () => {
    const { settings } = await probeIsolation(loadConfig({}), defaultProfilesDir());
    opts = { uidBase: settings.uidBase, cgroupParent: settings.cgroupParent };
  });

  afterAll(async () => {
    await releaseWorkerDir(detectCgroups({ parent: opts.cgroupParent }));
  });

  it('a clean host is reported clean', async () => {
    const before = snapshotHost();
    expect(isClean(await hostProblems(before, opts, 0))).toBe(true);
  });

  it('reports a process running as a sandbox uid', async () => {
    const uid = opts.uidBase + 65535;
    const p = spawn('sleep', ['30'], { uid, gid: uid, stdio: 'ignore' });
    try {
      expect(await waitFor(() => leftoverProcesses(opts).some((l) => l.pid === p.pid), 5000)).toBe(true);
    } finally {
      p.kill('SIGKILL');
    }
    expect(await waitFor(() => !leftoverProcesses(opts).some((l) => l.pid === p.pid), 5000)).toBe(true);
  });

  it('reports an execution cgroup left in our worker directory', async () => {
    const cg = detectCgroups({ parent: opts.cgroupParent });
    const dirs = cg.hierarchies.map((h) => path.join(h.workerDir, 'planted-leftover'));
    for (const d of dirs) fs.mkdirSync(d);
    try {
      expect(leftoverCgroups(opts).sort()).toEqual(dirs.sort());
    } finally {
      for (const d of dirs) fs.rmdirSync(d);
    }
    expect(leftoverCgroups(opts)).toEqual([]);
  });

  it('a spare group that never held a process is no leftover; one that did is', async () => {
    const cg = detectCgroups({ parent: opts.cgroupParent });
    const dirs = cg.hierarchies.map((h) => path.join(h.workerDir, 'spare-planted'));
    for (const d of dirs) fs.mkdirSync(d);
    try {
      expect(leftoverCgroups(opts)).toEqual([]);
      expect(unusedSpares(opts).sort()).toEqual(dirs.sort());
      // A process joins every hierarchy, as the launcher's phase child does, and exits.
      const procs = dirs.map((d) => path.join(d, 'cgroup.procs'));
      const joined = spawnSync('/bin/sh', ['-c', 'for p in "$@"; do echo 0 > "$p" || exit 99; done; ls / > /dev/null', 'sh', ...procs]);
      expect(joined.status).toBe(0);
      // It is counted in the hierarchies that keep counters (cpu time, memory, pids).
      const used = leftoverCgroups(opts);
      expect(used.length).toBeGreaterThan(0);
      for (const d of used) expect(dirs).toContain(d);
      expect(used.some((d) => d.includes('/memory') || cg.version === 2)).toBe(true);
    } finally {
      for (const d of dirs) fs.rmdirSync(d);
    }
    expect(leftoverCgroups(opts)).toEqual([]);
  });

  it('reports a new mount and a sandbox-owned file in /tmp', async () => {
    const before = snapshotHost();
    const dir = makeHostTempDir('plant');
    const owned = path.join(dir, 'owned');
    try {
      fs.writeFileSync(owned, 'x');
      fs.chownSync(owned, opts.uidBase + 1, opts.uidBase + 1);
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'codexec-plant', dir]).status).toBe(0);
      try {
        const problems = await hostProblems(before, opts, 0);
        expect(problems.mounts.some((l) => l.includes(dir))).toBe(true);
      } finally {
        expect(spawnSync('umount', [dir]).status).toBe(0);
      }
      const problems = await hostProblems(before, opts, 0);
      expect(problems.tmpFiles).toEqual([owned]);
      expect(problems.mounts).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
