import fs from 'node:fs';
import path from 'node:path';

/**
 * The cgroup directories a codexec process with this pid made for itself (its worker directory,
 * w<pid>.<start>, src/sandbox/cgroups/detect.ts), in every mounted cgroup hierarchy, read from the
 * cgroup filesystems. Looked for a few levels deep: under the parent (/codexec by default).
 */
export function workerCgroupDirs(pid: number): string[] {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => {
      const type = f[f.indexOf('-') + 1];
      return type === 'cgroup' || type === 'cgroup2';
    })
    .map((f) => f[4]!);
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      if (e.name.startsWith(`w${pid}.`)) found.push(sub);
      else if (depth > 0) walk(sub, depth - 1);
    }
  };
  for (const m of new Set(mounts)) walk(m, 8);
  return found;
}
