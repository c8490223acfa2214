import fs from 'node:fs';
import { withClient } from '../../queue/postgres-helpers.js';

// The PostgreSQL connections a process holds, found through its sockets (fd -> socket inode ->
// local port in /proc/<pid>/net/tcp) and pg_stat_activity's client_port: exact even when other
// tests use the same server, and independent of what the process calls its connections.

/** Local TCP ports of the sockets process `pid` holds open. */
export function tcpPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** The connections of process `pid` to the server at `url`, counted by application_name. */
export async function connectionsOf(url: string, pid: number): Promise<Record<string, number>> {
  const ports = tcpPortsOf(pid);
  const { rows } = await withClient(url, (c) =>
    c.query<{ application_name: string; n: string }>(
      'SELECT application_name, COUNT(*) AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[]) GROUP BY application_name',
      [ports],
    ),
  );
  return Object.fromEntries(rows.map((r) => [r.application_name, Number(r.n)]));
}
