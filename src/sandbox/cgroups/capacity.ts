import path from 'node:path';
import { SandboxSetupError } from '../../domain/errors.js';
import { exists, mkdirIfMissing, writeControl } from './cgroupfs.js';
import type { CgroupHost } from './detect.js';
import { applyLimits, openExecutionGroup, type ExecutionGroup } from './group.js';

// What one executor process may take, whatever its executions do. Each execution's group has its
// own limits, but memory can outlive a group (charges move to the parent when a group is removed),
// so the worker directory holding all of them is capped too, at what its slots may use at once:
// no sequence of runs can take more (issue 12). The fork servers and the inits they clone live in
// a group of their own in the same directory, capped and counted in the same total.

export interface SlotCapacity {
  /** Executions this process runs at once. */
  slots: number;
  /** Largest memory limit one execution (one phase) may have. */
  memoryBytesPerSlot: number;
  /** Largest process limit one execution may have. */
  processesPerSlot: number;
}

/** Per slot: a fork server's request (up to 96 MiB) and what its init writes into the tmpfs (the files). */
export const SERVER_MEMORY_BYTES_PER_SLOT = 256 * 1024 * 1024;
/**
 * Per slot: the server, its init (cloned ahead, standing by while the slot is idle), and a phase
 * child between fork and joining its own group; one to spare.
 */
export const SERVER_PROCESSES_PER_SLOT = 4;
/** Per slot: half a CPU for relaying output and building each sandbox's filesystem. */
export const SERVER_CPU_PERCENT_PER_SLOT = 50;
export const SERVERS_GROUP = 'fork-servers';

/** The totals capWorkerDir writes for `cap`. */
export function workerDirLimits(cap: SlotCapacity): { memoryBytes: number; processes: number } {
  return {
    memoryBytes: cap.slots * (cap.memoryBytesPerSlot + SERVER_MEMORY_BYTES_PER_SLOT),
    processes: cap.slots * (cap.processesPerSlot + SERVER_PROCESSES_PER_SLOT),
  };
}

/** Caps this process's worker directory (memory without swap, pids) at what `cap` may use. */
export function capWorkerDir(host: CgroupHost, cap: SlotCapacity): { memoryBytes: number; processes: number } {
  const limits = workerDirLimits(cap);
  for (const h of host.hierarchies) {
    const file = (name: string) => path.join(h.workerDir, name);
    if (h.controllers.includes('memory')) {
      if (host.version === 2) {
        writeControl(file('memory.max'), String(limits.memoryBytes));
        if (exists(file('memory.swap.max'))) writeControl(file('memory.swap.max'), '0');
      } else {
        // memsw (memory + swap) may never be below the memory limit: lift it, set both.
        const memsw = exists(file('memory.memsw.limit_in_bytes'));
        if (memsw) writeControl(file('memory.memsw.limit_in_bytes'), '-1');
        writeControl(file('memory.limit_in_bytes'), String(limits.memoryBytes));
        if (memsw) writeControl(file('memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      }
    }
    if (h.controllers.includes('pids')) writeControl(file('pids.max'), String(limits.processes));
  }
  return limits;
}

/** Slots of the sandbox hosts open in this process: they share the servers' group. */
let openSlots = 0;

/** The fork servers' group of this process, created if missing, its limits left as they are. */
export function serversGroup(host: CgroupHost): ExecutionGroup {
  const group = openExecutionGroup(host, host.workerTag, SERVERS_GROUP);
  try {
    for (const dir of group.dirs) mkdirIfMissing(dir);
  } catch (err) {
    throw new SandboxSetupError('cgroup', `cannot prepare the fork servers' group: ${(err as Error).message}`, err);
  }
  return group;
}

function applyServersLimits(host: CgroupHost, group: ExecutionGroup, slots: number): void {
  applyLimits(host, group, {
    memoryBytes: slots * SERVER_MEMORY_BYTES_PER_SLOT,
    processes: slots * SERVER_PROCESSES_PER_SLOT,
    cpuQuotaPercent: slots * SERVER_CPU_PERCENT_PER_SLOT,
  });
}

/**
 * The group the fork servers join (`--cgroup` on their command line) before they serve: capped
 * in memory, processes and CPU. Every sandbox host of this process shares it, so its limits are
 * for the slots of all the hosts open (a second host, e.g. one a test opens with a smaller
 * capacity, adds its slots instead of shrinking the group under the first one's servers);
 * `release` takes a closed host's slots back out.
 */
export function openServersGroup(host: CgroupHost, slots: number): { group: ExecutionGroup; release(): void } {
  const group = serversGroup(host);
  try {
    applyServersLimits(host, group, openSlots + slots);
  } catch (err) {
    throw new SandboxSetupError('cgroup', `cannot limit the fork servers' group: ${(err as Error).message}`, err);
  }
  openSlots += slots;
  let released = false;
  return {
    group,
    release() {
      if (released) return;
      released = true;
      openSlots -= slots;
      if (openSlots === 0) return;
      try {
        applyServersLimits(host, group, openSlots);
      } catch {
        // The group went away with the worker directory: nothing left to limit.
      }
    },
  };
}
