import pg from 'pg';
import { createWakeHub, type WakeSignal } from '../wake.js';

// Wakes executors and long-polling readers on every host sharing one PostgreSQL queue: the job
// store sends NOTIFY on its channel inside each transaction that changes a job (delivered at
// commit), and this LISTENs on one dedicated connection. The fallback poll of the wake hub covers
// the time the connection is down; it reconnects with a growing delay and looks once on return,
// since notifications sent meanwhile are lost.

export interface NotifyWakeOptions {
  url: string;
  channel: string;
  fallbackPollMs?: number;
  unref?: boolean;
  /** Told about connection failures (the signal keeps trying). */
  onError?: (err: Error) => void;
}

const RECONNECT_MIN_MS = 250;
const CONNECT_TIMEOUT_MS = 10_000;
const RECONNECT_MAX_MS = 10_000;

export function createNotifyWakeSignal(opts: NotifyWakeOptions): WakeSignal {
  return createWakeHub(opts, (fire) => {
    let client: pg.Client | null = null;
    let listening = false;
    let closed = false;
    let delay = RECONNECT_MIN_MS;
    let retry: NodeJS.Timeout | null = null;

    const drop = (c: pg.Client, err?: Error): void => {
      if (client !== c) return;
      client = null;
      listening = false;
      if (err) opts.onError?.(err);
      c.removeAllListeners();
      c.on('error', () => {}); // a late error of a dropped connection is not ours to report
      void c.end().catch(() => {});
      if (closed) return;
      retry = setTimeout(connect, delay);
      if (opts.unref) retry.unref();
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    };

    const connect = (): void => {
      retry = null;
      if (closed) return;
      const c = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      client = c;
      c.on('notification', (msg) => {
        if (msg.channel === opts.channel) fire();
      });
      c.on('error', (err) => drop(c, err));
      c.on('end', () => drop(c));
      c.connect()
        .then(() => {
          if (opts.unref) (c as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
          return c.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(opts.channel)}`);
        })
        .then(() => {
          if (client !== c) return;
          listening = true;
          delay = RECONNECT_MIN_MS;
          fire(); // changes made while we were not listening
        })
        .catch((err: Error) => drop(c, err));
    };

    connect();
    return {
      watching: () => listening,
      close() {
        closed = true;
        if (retry) clearTimeout(retry);
        const c = client;
        client = null;
        listening = false;
        if (c) {
          c.removeAllListeners();
          c.on('error', () => {});
          void c.end().catch(() => {});
        }
      },
    };
  });
}
