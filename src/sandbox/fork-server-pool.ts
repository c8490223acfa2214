import { ForkServer, ForkServerError, type SandboxProcess, type StreamChunkHandler } from './fork-server.js';
import type { SharedRoot } from './spec.js';

/**
 * The fork servers of one sandbox host: at most `maxServers` (the host's slots), started on
 * demand, each running one execution at a time. A request beyond that waits for a server: the
 * servers' cgroup and the cap on all executions are sized for the slots, never more.
 */
export class ForkServerPool {
  private readonly idle: ForkServer[] = [];
  private readonly all = new Set<ForkServer>();
  private readonly waiting: ((ok: boolean) => void)[] = [];
  private busy = 0;
  private closed = false;

  constructor(
    private readonly launcherPath: string,
    private readonly cgroupProcs: string[],
    private readonly maxServers: number,
    private readonly root: SharedRoot,
  ) {}

  start(launcherArgs: string[], input: Buffer, stdin: Buffer, onChunk: StreamChunkHandler): SandboxProcess {
    if (this.closed) throw new ForkServerError('the sandbox host is closed');
    let killed = false;
    let inner: SandboxProcess | null = null;
    const acquired = this.acquire();
    const done = acquired.then(async (ok) => {
      if (!ok) throw new ForkServerError('the sandbox host is closed');
      const server = this.takeServer();
      try {
        if (killed) return null;
        inner = server.start(launcherArgs, input, stdin, onChunk);
        return await inner.done;
      } finally {
        this.giveBack(server);
      }
    });
    return {
      started: acquired.then(() => {}),
      done,
      kill: () => {
        killed = true;
        inner?.kill();
      },
    };
  }

  close(): void {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake(false);
    for (const s of this.all) s.close();
    this.all.clear();
    this.idle.length = 0;
  }

  private acquire(): Promise<boolean> {
    if (this.busy < this.maxServers) {
      this.busy++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private takeServer(): ForkServer {
    let server = this.idle.pop();
    while (server && !server.alive) {
      this.all.delete(server);
      server = this.idle.pop();
    }
    if (server) return server;
    const fresh = new ForkServer(this.launcherPath, this.cgroupProcs, this.root);
    this.all.add(fresh);
    return fresh;
  }

  private giveBack(server: ForkServer): void {
    if (server.alive && !this.closed) this.idle.push(server);
    else this.all.delete(server);
    const next = this.waiting.shift();
    if (next) next(true);
    else this.busy--;
  }
}
