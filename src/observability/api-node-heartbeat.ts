import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JobStore } from '../queue/job-store.js';
import { codexecVersion } from '../config/version.js';

// An API node (`codexec serve`) records itself in the queue database, as executors do, so that
// `codexec status` and GET /status on any node list every API node sharing the database, and
// flag one that stopped heartbeating (killed, frozen, partitioned from the database) before an
// operator finds out from the load balancer. A clean shutdown removes the row.

/** Heartbeats this often, at most; more often when leases are short (stale = one lease without one). */
const MAX_HEARTBEAT_MS = 5000;
const MIN_HEARTBEAT_MS = 250;

/**
 * Where this node can be reached, for people reading `codexec status`: host:port as configured,
 * with this host's name in place of a wildcard address (0.0.0.0 or ::, which every node shares).
 */
export function advertisedAddress(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? os.hostname() : host;
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export interface ApiNodeHeartbeatOptions {
  store: Pick<JobStore, 'apiNodeHeartbeat' | 'removeApiNode'>;
  logger: Logger;
  /** host:port (advertisedAddress). */
  address: string;
  /** Embedded executor slots of this node (CODEXEC_EXECUTORS). */
  executors: number;
  /** A node silent for one lease is shown stale: heartbeat well within it. */
  leaseMs: number;
}

export class ApiNodeHeartbeat {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(private readonly o: ApiNodeHeartbeatOptions) {}

  /** Records this node now, then every few seconds (the timer does not keep the process alive). */
  start(): void {
    const every = Math.max(MIN_HEARTBEAT_MS, Math.min(MAX_HEARTBEAT_MS, Math.floor(this.o.leaseMs / 3)));
    this.timer = setInterval(() => void this.beat(), every);
    this.timer.unref();
    void this.beat();
  }

  private async beat(): Promise<void> {
    try {
      await this.o.store.apiNodeHeartbeat({
        id: this.id,
        hostname: os.hostname(),
        pid: process.pid,
        version: codexecVersion(),
        address: this.o.address,
        executors: this.o.executors,
        startedAt: this.startedAt,
        heartbeatAt: Date.now(),
      });
      if (this.failing) this.o.logger.info('API node heartbeat recorded again');
      this.failing = false;
    } catch (err) {
      // The database is away (its outage shows in /readyz): said once, not at every beat.
      if (!this.failing) this.o.logger.warn({ err }, 'could not record the API node heartbeat; trying again at the next interval');
      this.failing = true;
    }
  }

  /** Stops heartbeating and removes this node's row (shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.o.store.removeApiNode(this.id).catch(() => undefined);
  }
}
