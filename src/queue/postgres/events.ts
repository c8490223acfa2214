import pg from 'pg';
import { JOB_EVENT_KINDS, type EventSink, type EventTransport, type JobEvent, type JobEventKind } from '../events.js';

// Events of the job queue on PostgreSQL, from every host: the job table's trigger NOTIFYs each
// status change as "<kind>:<id>" (migrations.ts), delivered at commit; this LISTENs on one
// dedicated connection. While the connection is down nothing arrives, so `watching` is false
// (listeners poll); it reconnects with a growing delay and, since notifications sent meanwhile
// are lost, tells its listeners to resync once it listens again.

export interface NotifyTransportOptions {
  url: string;
  channel: string;
  /** Told about connection failures (the transport keeps trying). */
  onError?: (err: Error) => void;
  /** The connection's fallback application_name (application-name.ts). */
  applicationName?: string;
}

// TCP keepalive from a minute of silence: a LISTEN connection is idle for as long as no job
// changes, and a NAT or firewall between hosts drops idle flows silently; its probes keep the flow
// open, and tell a dead peer from a quiet one (the connection then errors, and is re-opened).
export const TCP_KEEPALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 60_000 } as const;

const RECONNECT_MIN_MS = 250;
const CONNECT_TIMEOUT_MS = 10_000;
const RECONNECT_MAX_MS = 10_000;
const KINDS: ReadonlySet<string> = new Set(JOB_EVENT_KINDS);

/** "<kind>:<id>" -> an event; null for a payload this version does not know. */
export function parsePayload(payload: string | undefined): JobEvent | null {
  if (!payload) return null;
  const i = payload.indexOf(':');
  const kind = payload.slice(0, i);
  if (i <= 0 || !KINDS.has(kind)) return null;
  return { kind: kind as JobEventKind, id: payload.slice(i + 1) };
}

export function notifyEventTransport(opts: NotifyTransportOptions): EventTransport {
  let client: pg.Client | null = null;
  let sink: EventSink | null = null;
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
    retry.unref();
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  };

  const connect = (): void => {
    retry = null;
    if (closed) return;
    const c = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, fallback_application_name: opts.applicationName, ...TCP_KEEPALIVE });
    client = c;
    c.on('notification', (msg) => {
      if (msg.channel !== opts.channel) return;
      const e = parsePayload(msg.payload);
      if (e) sink?.deliver([e]);
    });
    c.on('error', (err) => drop(c, err));
    c.on('end', () => drop(c));
    c.connect()
      .then(() => {
        // An idle LISTEN connection must not keep a process alive on its own.
        (c as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
        return c.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(opts.channel)}`);
      })
      .then(() => {
        if (client !== c) return;
        listening = true;
        delay = RECONNECT_MIN_MS;
        sink?.resync(); // changes made while we were not listening
      })
      .catch((err: Error) => drop(c, err));
  };

  return {
    start(s) {
      sink = s;
      connect();
    },
    // NOTIFY brings this process's own changes back too (at commit): nothing to do.
    poke() {},
    get watching() {
      return listening;
    },
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
}
