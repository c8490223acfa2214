import { randomBytes } from 'node:crypto';
import type { CgroupHost } from './detect.js';
import { createExecutionGroup, createSpareGroup, limitsKey, withLimits, type ExecutionGroup, type ExecutionLimits } from './group.js';

// Execution groups made ahead, off the executions' path. Making a group costs one mkdir per
// hierarchy and writing its limits a few control files, ~0.8 ms in all on the five v1
// hierarchies here after an idle moment, before any run could start. So while the host is idle
// (at start, and after a result is on its way) spares are made with the limits of the latest
// execution, which the next one most likely has too (the same language's default limits). An
// execution takes a spare whose limits are its own as it is; else a spare made before any
// execution, writing its limits into it; else it makes its group as without spares. Other spares
// are removed at the next refill and replaced: limits are only ever written into a fresh group,
// as they were without spares, so no value of an earlier choice can stay behind.
// A spare has never held a process and is used once: after its execution it is killed and
// removed like any execution group. It holds its statistics files open (keepStatsOpen) until then,
// so that the execution's end reads them without opening them. Spares live in the worker's directory, so the sweep removes
// the spares of a worker that died as it removes its execution groups.

/**
 * Names of spare groups: this prefix and random hex (execution groups end in -c or -r), unique
 * across the hosts a process opens, which share its worker directory.
 */
export const SPARE_PREFIX = 'spare-';

interface Spare {
  group: ExecutionGroup;
  /** limitsKey of the limits written into it; null: none yet. */
  key: string | null;
}

export class SpareGroups {
  private stock: Spare[] = [];
  /** The latest execution's limits: the next spares get them. */
  private latest: ExecutionLimits | null = null;
  private closed = false;

  /** `size`: how many spares to keep (one per executor slot). */
  constructor(
    private readonly host: CgroupHost,
    private readonly size: number,
  ) {}

  /** Spares ready now. */
  get count(): number {
    return this.stock.length;
  }

  /** A group with `limits` applied: a spare when one fits, else `name` made now. */
  take(name: string, limits: ExecutionLimits): ExecutionGroup {
    this.latest = limits;
    const key = limitsKey(limits);
    const ready = this.pick((s) => s.key === key);
    if (ready) return ready.group;
    const bare = this.pick((s) => s.key === null);
    return bare ? withLimits(this.host, bare.group, limits) : createExecutionGroup(this.host, name, limits);
  }

  /**
   * Removes the spares whose limits are not the latest execution's (those made before any
   * execution too, once there is one), and makes spares with them up to the size (none once
   * closed). One that cannot be made is not retried now: take() makes its own.
   */
  async refill(): Promise<void> {
    const latest = this.latest;
    const key = latest ? limitsKey(latest) : null;
    const stale = this.stock.filter((s) => s.key !== key);
    this.stock = this.stock.filter((s) => s.key === key);
    await Promise.all(stale.map((s) => s.group.remove().catch(() => {})));
    while (!this.closed && this.stock.length < this.size) {
      try {
        const group = createSpareGroup(this.host, `${SPARE_PREFIX}${randomBytes(6).toString('hex')}`, latest);
        group.keepStatsOpen();
        this.stock.push({ group, key });
      } catch {
        return;
      }
    }
  }

  /** Removes the spares not taken; makes no more. */
  async close(): Promise<void> {
    this.closed = true;
    const spares = this.stock.splice(0);
    await Promise.all(spares.map((s) => s.group.remove().catch(() => {})));
  }

  private pick(fits: (s: Spare) => boolean): Spare | null {
    const i = this.stock.findIndex(fits);
    return i < 0 ? null : this.stock.splice(i, 1)[0]!;
  }
}
