import { MessageChannel } from 'node:worker_threads';
import Tinypool from 'tinypool';
import { threadEntry } from '../threads/entry.js';
import type { SandboxFile, SandboxHost, SandboxRequest, SandboxResult } from './request.js';
import type { ThreadMessage, ThreadTask } from './unisolated-thread.js';

// The development host (unisolated-host.ts) on worker threads. It spawns each program from Node,
// and spawning forks the whole Node process and blocks the calling thread meanwhile: measured on
// Node 20 here, 7 ms per spawn at 50 MiB RSS, 19 ms at 250 MiB, 109 ms at 1 GiB, all of it on the
// event loop that serves HTTP. From a thread, the main loop's median delay stays at ~1 ms (the
// tail does not: fork still write-locks the address space). The isolated host needs none of this:
// its fork servers are spawned once per slot.

/** Buffers cross threads as Uint8Arrays. */
export const asBuffer = (f: SandboxFile): SandboxFile => ({ ...f, content: Buffer.from(f.content.buffer, f.content.byteOffset, f.content.byteLength) });

export class UnisolatedPool implements SandboxHost {
  readonly isolated = false;
  private readonly pool: Tinypool;

  constructor(threads: number) {
    this.pool = new Tinypool({
      ...threadEntry(import.meta.url, 'unisolated-thread'),
      minThreads: Math.max(1, threads),
      maxThreads: Math.max(1, threads),
      idleTimeout: 0,
      isolateWorkers: false,
    });
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    // One channel per request: output and the result come back on it in the order they were
    // sent, and an abort goes the other way (the thread kills its program; terminating the
    // thread would leave the program running).
    const { port1, port2 } = new MessageChannel();
    const result = new Promise<SandboxResult>((resolve) => {
      port1.on('message', (m: ThreadMessage) => {
        if (m.kind === 'output') req.onOutput?.(m.stream, Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
        else resolve({ ...m.result, artifacts: m.result.artifacts?.map(asBuffer) ?? null });
      });
    });
    const onAbort = () => port1.postMessage('abort');
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const { signal: _signal, onOutput, ...plain } = req;
    const task: ThreadTask = { ...plain, live: onOutput !== undefined, port: port2 };
    try {
      await this.pool.run(task, { transferList: [port2] });
      return await result;
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      port1.close();
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
