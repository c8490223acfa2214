import path from 'node:path';
import { childGroups, processStartTime, removeGroupDir } from './cgroupfs.js';
import { workerDirs, type CgroupHost } from './detect.js';
import { openExecutionGroup } from './group.js';

// Execution groups live in <parent>/w<pid>.<start time>/. A worker directory whose owner process
// no longer exists (same pid and same start time) was left by a crash: its groups are killed and
// removed. A live worker's directory is never touched, so workers sharing a host (or a restarted
// worker next to a running one) cannot kill each other's executions.

/** True while the process that made worker directory `tag` (w<pid>.<start>) is running. */
export function workerAlive(tag: string): boolean {
  const m = /^w(\d+)\.(\d+)$/.exec(tag);
  if (!m) return false;
  return processStartTime(Number(m[1])) === m[2];
}

export interface SweepResult {
  /** Execution groups killed and removed, as <worker>/<execution>. */
  groups: string[];
  /** Problems that left something behind. */
  failures: string[];
}

/** Kills and removes execution groups left by workers that are gone. Run at startup. */
export async function sweepLeftovers(host: CgroupHost): Promise<SweepResult> {
  const result: SweepResult = { groups: [], failures: [] };
  if (host.version === 'none') return result;
  // Collect across hierarchies: a crash between two mkdirs leaves a group in only some of them.
  const dead = new Map<string, Set<string>>();
  for (const h of host.hierarchies) {
    for (const dir of workerDirs(host, h)) {
      const tag = path.basename(dir);
      if (workerAlive(tag)) continue;
      const names = dead.get(tag) ?? new Set<string>();
      for (const name of childGroups(dir)) names.add(name);
      dead.set(tag, names);
    }
  }
  for (const [tag, names] of dead) {
    for (const name of names) {
      try {
        const group = openExecutionGroup(host, tag, name);
        await group.kill();
        await group.remove();
        result.groups.push(`${tag}/${name}`);
      } catch (err) {
        result.failures.push(`${tag}/${name}: ${(err as Error).message}`);
      }
    }
    for (const h of host.hierarchies) {
      const dir = path.join(path.dirname(h.workerDir), tag);
      try {
        if (!removeGroupDir(dir)) result.failures.push(`${dir}: still busy`);
      } catch (err) {
        result.failures.push(`${dir}: ${(err as Error).message}`);
      }
    }
  }
  return result;
}

/** At shutdown: removes this worker's (by then empty) directory. Groups still inside are killed. */
export async function releaseWorkerDir(host: CgroupHost): Promise<void> {
  if (host.version === 'none') return;
  const names = new Set<string>();
  for (const h of host.hierarchies) for (const name of childGroups(h.workerDir)) names.add(name);
  for (const name of names) {
    const group = openExecutionGroup(host, host.workerTag, name);
    await group.kill();
    await group.remove();
  }
  for (const h of host.hierarchies) removeGroupDir(h.workerDir);
}
