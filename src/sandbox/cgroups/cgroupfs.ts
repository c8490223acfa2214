import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Direct reads and writes of cgroupfs files. Each is one or two system calls; spawning mkdir or
// echo would cost ~1.6 ms per process (issue 7), so nothing here spawns.

export { sleep };

export function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** Writes `value` to a cgroup control file; throws with the file name on failure. */
export function writeControl(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const wrapped = new Error(`cannot write ${JSON.stringify(value)} to ${file}: ${e.code ?? e.message}`, { cause: err }) as NodeJS.ErrnoException;
    wrapped.code = e.code;
    throw wrapped;
  }
}

/** Like writeControl, but reports failure instead of throwing (for optional files). */
export function tryWriteControl(file: string, value: string): boolean {
  try {
    fs.writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

/** How a file's text is read: readText, or a group's descriptors held open (KeptFiles). */
export type ReadText = (file: string) => string | null;

/**
 * cgroup files held open, each read again from its start with one pread: no open, fstat and close
 * per read. Opening a cgroup file is the costly part of reading one after an idle moment (kernfs;
 * five files 189 µs by readFileSync, 84 µs by pread here). A file is opened at its first read and
 * kept; one that cannot be opened is read as usual each time. close() gives every descriptor back.
 */
export class KeptFiles {
  /** Each file read so far: its descriptor, or null when it could not be opened. */
  private readonly fds = new Map<string, number | null>();

  get size(): number {
    return [...this.fds.values()].filter((fd) => fd !== null).length;
  }

  readonly read: ReadText = (file) => {
    let fd = this.fds.get(file);
    if (fd === undefined) this.fds.set(file, (fd = openOrNull(file)));
    if (fd === null) return readText(file);
    try {
      const n = fs.readSync(fd, scratch, 0, scratch.length, 0);
      // A file longer than the buffer is read whole the usual way.
      return n < scratch.length ? scratch.toString('utf8', 0, n) : readText(file);
    } catch {
      return readText(file);
    }
  };

  close(): void {
    for (const fd of this.fds.values()) {
      if (fd === null) continue;
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds.clear();
  }
}

function openOrNull(file: string): number | null {
  try {
    return fs.openSync(file, 'r');
  } catch {
    return null; // absent on this kernel (memory.peak before 5.19): read as usual, which says so
  }
}

// One buffer for every kept read: each is synchronous and copied out before the next.
const scratch = Buffer.allocUnsafe(64 * 1024);

/** "key value" lines (cpu.stat, memory.events, memory.oom_control, pids.events) as a map. */
export function readKeyed(file: string, read: ReadText = readText): Map<string, number> {
  const out = new Map<string, number>();
  const text = read(file);
  if (text === null) return out;
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** A file holding one number, or null if it is missing or holds something else ("max"). */
export function readNumber(file: string, read: ReadText = readText): number | null {
  const text = read(file)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

export function readPids(procsFile: string): number[] {
  const text = readText(procsFile);
  if (text === null) return [];
  return text
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Creates `dir` unless it exists; true when this call created it. */
export function mkdirIfMissing(dir: string): boolean {
  try {
    fs.mkdirSync(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

/** Subdirectories (child cgroups) of `dir`; none if it cannot be read. */
export function childGroups(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** rmdir that treats "already gone" as success; returns false while the group is busy. */
export function removeGroupDir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return false;
    throw err;
  }
}

/** SIGKILL that ignores processes which are already gone. */
export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The kernel's start time of a process (clock ticks after boot), or null if it is gone. */
export function processStartTime(pid: number | 'self'): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Field 22; the command name (field 2) may hold spaces and parentheses, so count from its end.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

export interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

export function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The mounts of this process (/proc/self/mountinfo). */
export function readMounts(): MountEntry[] {
  const text = readText('/proc/self/mountinfo') ?? '';
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    out.push({ root: unescape(left[3]), mountPoint: unescape(left[4]), fsType: right[0], superOptions: right[2].split(',') });
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
