import fs from 'node:fs';
import path from 'node:path';
import { exists, readText, tryWriteControl, writeControl } from './cgroupfs.js';

// Disk I/O of an execution: the programs read the host's disks through their read-only binds
// (O_DIRECT reads of /usr/lib ran at 1.5 GB/s, issue 12). Each execution group gets a throttle on
// every whole-disk block device under those binds: v2 io.max, v1 blkio.throttle.*. Throttling
// needs a real block device: overlay, btrfs and network filesystems (anonymous device numbers)
// cannot be throttled this way; `codexec doctor` says so.

export interface IoThrottle {
  /** "MAJ:MIN" of whole disks. */
  devices: string[];
  readBytesPerSecond: number;
  readIops: number;
  writeBytesPerSecond: number;
  writeIops: number;
}

/** "MAJ:MIN" of the whole disks holding `paths` (missing paths and non-block filesystems are skipped). */
export function blockDevicesOf(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    let dev: number;
    try {
      dev = fs.statSync(p).dev;
    } catch {
      continue;
    }
    const disk = wholeDisk(`${major(dev)}:${minor(dev)}`);
    if (disk) out.add(disk);
  }
  return [...out].sort();
}

// Linux's dev_t encoding (glibc gnu_dev_major/minor).
const major = (dev: number) => Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
const minor = (dev: number) => Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));

// A partition is throttled on its disk (io.max refuses partitions).
function wholeDisk(majMin: string): string | null {
  const sys = `/sys/dev/block/${majMin}`;
  if (!exists(sys)) return null;
  if (!exists(path.join(sys, 'partition'))) return majMin;
  try {
    return readText(path.join(fs.realpathSync(sys), '..', 'dev'))?.trim() || null;
  } catch {
    return null;
  }
}

/** Applies `io` to the group's io (v2) or blkio (v1) directory. */
export function applyIoThrottle(version: 1 | 2, dir: string, io: IoThrottle): void {
  for (const d of io.devices) {
    if (version === 2) {
      writeControl(path.join(dir, 'io.max'), `${d} rbps=${io.readBytesPerSecond} wbps=${io.writeBytesPerSecond} riops=${io.readIops} wiops=${io.writeIops}`);
    } else {
      writeControl(path.join(dir, 'blkio.throttle.read_bps_device'), `${d} ${io.readBytesPerSecond}`);
      writeControl(path.join(dir, 'blkio.throttle.read_iops_device'), `${d} ${io.readIops}`);
      writeControl(path.join(dir, 'blkio.throttle.write_bps_device'), `${d} ${io.writeBytesPerSecond}`);
      writeControl(path.join(dir, 'blkio.throttle.write_iops_device'), `${d} ${io.writeIops}`);
    }
  }
}

/** The devices of `candidates` this kernel throttles in `dir` (a group of ours): each is tried once. */
export function throttleableDevices(version: 1 | 2, dir: string, candidates: string[]): string[] {
  const file = path.join(dir, version === 2 ? 'io.max' : 'blkio.throttle.read_bps_device');
  if (!exists(file)) return [];
  return candidates.filter((d) => {
    try {
      writeControl(file, version === 2 ? `${d} rbps=max` : `${d} 0`);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * v2: the weight of all executions' disk I/O against the service's, written on their parent
 * (the default is 100; 10 as for the CPU, detect.ts). It takes effect where the kernel weighs
 * groups on a disk: io.cost enabled for it (io.weight) or the BFQ scheduler (io.bfq.weight); the
 * throttle above applies everywhere. Returns the files that took the weight.
 */
export function weighExecutionsIo(parentDir: string, weight: number): string[] {
  return ['io.weight', 'io.bfq.weight'].filter((f) => exists(path.join(parentDir, f)) && tryWriteControl(path.join(parentDir, f), `default ${weight}`));
}

/** Of `devices` ("MAJ:MIN"), those on which a group weight takes effect: BFQ, or io.cost enabled. */
export function weightedDevices(version: 1 | 2, cgroupMount: string, devices: string[]): string[] {
  const qos = version === 2 ? (readText(path.join(cgroupMount, 'io.cost.qos')) ?? '') : '';
  return devices.filter((d) => {
    if (/\[bfq\]/.test(readText(`/sys/dev/block/${d}/queue/scheduler`) ?? '')) return true;
    return qos.split('\n').some((l) => l.startsWith(`${d} `) && /\benable=1\b/.test(l));
  });
}

/**
 * Hugetlb pages are charged to no memory limit (a 64 MiB MAP_HUGETLB mapping under a 16 MiB limit
 * drained the host's pool, issue 12): every page size gets 0. The files (v2 hugetlb.<size>.max and
 * .rsvd.max, v1 hugetlb.<size>.limit_in_bytes and .rsvd.limit_in_bytes) are listed once per host.
 */
export function hugetlbLimitFiles(version: 1 | 2, dir: string): string[] {
  const re = version === 2 ? /^hugetlb\.[^.]+\.(rsvd\.)?max$/ : /^hugetlb\.[^.]+\.(rsvd\.)?limit_in_bytes$/;
  try {
    return fs.readdirSync(dir).filter((f) => re.test(f)).sort();
  } catch {
    return [];
  }
}

export function zeroHugetlb(dir: string, files: string[]): void {
  for (const f of files) writeControl(path.join(dir, f), '0');
}
