import fs from 'node:fs';
import path from 'node:path';
// A plain directory listing, not the cgroup logic under test.
import { childGroups as subdirs } from '../../src/sandbox/cgroups/cgroupfs.js';

export { subdirs };

// The cgroup filesystems as the tests see them, read straight from /proc and the mounts (not
// through src/sandbox's cgroup layout, which is what they check).

export interface CgroupMount {
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
}

/** Every mounted cgroup hierarchy: the v1 controllers' mounts and the v2 mount. */
export function cgroupMounts(): CgroupMount[] {
  let mountinfo = '';
  try {
    mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    out.push({ mountPoint: line.slice(0, sep).split(' ')[4]!.replace(/\\040/g, ' '), fsType });
  }
  return out;
}

/**
 * The cgroup directories a codexec process with this pid made for itself (its worker directory,
 * w<pid>.<start>, src/sandbox/cgroups/detect.ts), in every hierarchy. Looked for a few levels
 * deep: under the parent (/codexec by default on v1, below the process's own group on v2).
 */
export function workerCgroupDirs(pid: number): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const name of subdirs(dir)) {
      const sub = path.join(dir, name);
      if (name.startsWith(`w${pid}.`)) found.push(sub);
      else if (depth > 0) walk(sub, depth - 1);
    }
  };
  for (const mountPoint of new Set(cgroupMounts().map((m) => m.mountPoint))) walk(mountPoint, 8);
  return found;
}
