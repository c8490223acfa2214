import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codexecVersion } from '../../src/config/version.js';
import { ApiNodeHeartbeat, advertisedAddress } from '../../src/observability/api-node-heartbeat.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import type { ApiNodeInfo } from '../../src/queue/job-store.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { makeTempDir, removeDir } from '../queue/helpers.js';

const silent = pino({ level: 'silent' });

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

describe('advertisedAddress', () => {
  it('names this host in place of a wildcard address, keeps any other', () => {
    expect(advertisedAddress('0.0.0.0', 8080)).toBe(`${os.hostname()}:8080`);
    expect(advertisedAddress('::', 9000)).toBe(`${os.hostname()}:9000`);
    expect(advertisedAddress('10.0.0.7', 8080)).toBe('10.0.0.7:8080');
    expect(advertisedAddress('::1', 8080)).toBe('[::1]:8080');
  });
});

describe('ApiNodeHeartbeat', () => {
  let dir: string;
  let queue: JobQueue;
  beforeEach(() => {
    dir = makeTempDir();
    queue = openSqliteQueue(path.join(dir, 'codexec.db'), { eventsPollMs: 0 });
  });
  afterEach(async () => {
    await queue.close();
    removeDir(dir);
  });

  it('records the node at start and again every few seconds; a clean stop removes it', async () => {
    const node = new ApiNodeHeartbeat({ store: queue, logger: silent, address: '127.0.0.1:8080', executors: 0, leaseMs: 1000 });
    node.start();
    const first = await until('the first heartbeat', async () => (await queue.stats()).apiNodes[0]);
    expect(first).toMatchObject({ id: node.id, pid: process.pid, hostname: os.hostname(), version: codexecVersion(), address: '127.0.0.1:8080', executors: 0 });
    // A lease of 1 s: it beats every 333 ms, so a reader never sees it a lease old.
    const later = await until('a later heartbeat', async () => {
      const n = (await queue.stats()).apiNodes[0];
      return n && n.heartbeatAt > first.heartbeatAt ? n : undefined;
    });
    expect(later.startedAt).toBe(first.startedAt);
    await node.stop();
    expect((await queue.stats()).apiNodes).toEqual([]);
  });

  it('a database away is said once, and its return once; beats go on meanwhile', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    let failing = 3;
    const beats: ApiNodeInfo[] = [];
    const store = {
      async apiNodeHeartbeat(info: ApiNodeInfo) {
        if (failing-- > 0) throw new Error('connection refused');
        beats.push(info);
      },
      async removeApiNode() {},
    };
    const node = new ApiNodeHeartbeat({ store, logger, address: 'h:1', executors: 2, leaseMs: 750 });
    node.start();
    await until('a beat after the outage', async () => (beats.length > 0 ? true : undefined));
    await node.stop();
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['could not record the API node heartbeat; trying again at the next interval']);
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual(['API node heartbeat recorded again']);
    expect(beats[0]).toMatchObject({ address: 'h:1', executors: 2 });
  });
});
