import { op, type Body } from '../driver.js';
import type { ApiNodeInfo, ExecutorInfo } from '../job-store.js';
import type { BodyRunner } from './output-log.js';

// Who is there: executors and API nodes record themselves with a heartbeat, so that `codexec
// status` and /readyz on any process see every other one. A row whose heartbeat is older than
// `staleMs` belongs to a process gone for good; each heartbeat deletes those of its own kind.
// Upsert and delete are two statements, each alone (one round trip each): they need not be atomic.
export class ProcessRegistry {
  constructor(
    private readonly run: BodyRunner,
    private readonly staleMs: number,
  ) {}

  async executorHeartbeat(info: ExecutorInfo): Promise<void> {
    await this.beat('ExecutorUpsert', 'ExecutorDeleteStale', info);
  }

  async removeExecutor(id: string): Promise<void> {
    await this.run(function* () {
      yield op('ExecutorDelete', { id });
    }, 'single', false);
  }

  async apiNodeHeartbeat(info: ApiNodeInfo): Promise<void> {
    await this.beat('ApiNodeUpsert', 'ApiNodeDeleteStale', info);
  }

  async removeApiNode(id: string): Promise<void> {
    await this.run(function* () {
      yield op('ApiNodeDelete', { id });
    }, 'single', false);
  }

  private async beat(upsert: 'ExecutorUpsert' | 'ApiNodeUpsert', deleteStale: 'ExecutorDeleteStale' | 'ApiNodeDeleteStale', info: ExecutorInfo | ApiNodeInfo): Promise<void> {
    const staleBefore = info.heartbeatAt - this.staleMs;
    await this.run(function* () {
      yield op(upsert, { ...info });
    }, 'single', false);
    await this.run(function* () {
      yield op(deleteStale, { id: info.id, staleBefore });
    }, 'single', false);
  }
}

/** Executors with a heartbeat since `staleBefore` (a step of stats()' read snapshot). */
export function* listExecutors(staleBefore: number): Body<ExecutorInfo[]> {
  return (yield op('ExecutorListAlive', { staleBefore })).rows.map((r) => ({
    id: String(r.id),
    hostname: String(r.hostname),
    pid: Number(r.pid),
    slots: Number(r.slots),
    busy: Number(r.busy),
    startedAt: Number(r.startedAt),
    heartbeatAt: Number(r.heartbeatAt),
  }));
}

/** API nodes with a heartbeat since `staleBefore`. */
export function* listApiNodes(staleBefore: number): Body<ApiNodeInfo[]> {
  return (yield op('ApiNodeListAlive', { staleBefore })).rows.map((r) => ({
    id: String(r.id),
    hostname: String(r.hostname),
    pid: Number(r.pid),
    version: String(r.version),
    address: String(r.address),
    executors: Number(r.executors),
    startedAt: Number(r.startedAt),
    heartbeatAt: Number(r.heartbeatAt),
  }));
}
