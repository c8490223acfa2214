import type { MessagePort } from 'node:worker_threads';
import type { SandboxRequest, SandboxResult } from './request.js';
import { UnisolatedHost } from './unisolated-host.js';
import { asBuffer } from './unisolated-pool.js';

// Entry of a thread of the UnisolatedPool: runs each request on the development host and sends
// its output and result back on the request's own port (unisolated-pool.ts says why threads).

/** A request as it crosses into the thread: plain data and the port to answer on. */
export type ThreadTask = Omit<SandboxRequest, 'signal' | 'onOutput'> & { live: boolean; port: MessagePort };

export type ThreadMessage = { kind: 'output'; stream: 'stdout' | 'stderr'; chunk: Uint8Array } | { kind: 'result'; result: SandboxResult };

const host = new UnisolatedHost();

export default async function run(task: ThreadTask): Promise<void> {
  const { port, live, ...req } = task;
  const abort = new AbortController();
  port.on('message', (m) => m === 'abort' && abort.abort());
  try {
    const result = await host.run({
      ...req,
      files: req.files.map(asBuffer),
      signal: abort.signal,
      onOutput: live ? (stream, chunk) => port.postMessage({ kind: 'output', stream, chunk } satisfies ThreadMessage) : undefined,
    });
    port.postMessage({ kind: 'result', result } satisfies ThreadMessage);
  } finally {
    port.close();
  }
}
