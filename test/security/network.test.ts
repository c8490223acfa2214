import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, makeHostTempDir, py, reportOf, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// Attacks over the network: reaching services of the host (here: servers this test starts on
// 127.0.0.1, ::1, an abstract unix socket and a unix socket file, standing in for the API's own
// port and for local daemons), and looking at the interfaces and routes. The program has its own
// network namespace with only a loopback that is down. No test traffic goes to any address outside
// this machine: the programs only try 127.0.0.1, ::1 and unix sockets.

interface Listener {
  server: net.Server;
  connections: number;
}

function listen(options: net.ListenOptions): Promise<Listener> {
  const l: Listener = { server: net.createServer((sock) => {
    l.connections++;
    sock.destroy();
  }), connections: 0 };
  return new Promise((resolve, reject) => {
    l.server.once('error', reject);
    l.server.listen(options, () => resolve(l));
  });
}

/** 0.0.0.0, 127.0.0.2 and this machine's own IPv4 addresses (traffic to them stays on this machine). */
function hostAddresses(): string[] {
  const own = Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === 'IPv4')
    .map((i) => i.address);
  return [...new Set(['0.0.0.0', '127.0.0.2', ...own])];
}

const portOf = (l: Listener | null) => (l ? (l.server.address() as net.AddressInfo).port : 0);

describe.skipIf(!IS_ROOT)(`attack: network${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();
  let v4: Listener;
  let v6: Listener | null = null;
  let abstract: Listener | null = null;
  let unixFile: Listener;
  let sockDir: string;
  const abstractName = `codexec-sec-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    v4 = await listen({ host: '127.0.0.1', port: 0 });
    try {
      v6 = await listen({ host: '::1', port: 0 });
    } catch {
      v6 = null; // no IPv6 loopback on this host
    }
    try {
      abstract = await listen({ path: `\0${abstractName}` });
    } catch {
      abstract = null;
    }
    sockDir = makeHostTempDir('sock');
    unixFile = await listen({ path: path.join(sockDir, 'api.sock') });
  });

  afterAll(async () => {
    for (const l of [v4, v6, abstract, unixFile]) if (l) await new Promise((r) => l.server.close(r));
    fs.rmSync(sockDir, { recursive: true, force: true });
  });

  const totalConnections = () => [v4, v6, abstract, unixFile].reduce((n, l) => n + (l?.connections ?? 0), 0);

  // TCP to a port of ours on 127.0.0.1 and ::1 (the API's own port stands there in production),
  // plus UDP: the loopback in the program's namespace is down and is not the host's loopback.
  it('python cannot connect to the host loopback (TCP, UDP, IPv4 and IPv6)', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import socket
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
    finally:
        s.close()
out['tcp4'] = attempt(lambda: tcp(socket.AF_INET, ('127.0.0.1', ${portOf(v4)})))
out['tcp6'] = attempt(lambda: tcp(socket.AF_INET6, ('::1', ${portOf(v6) || portOf(v4)})))
# The host's own addresses (traffic to them never leaves this machine) and 0.0.0.0, which Linux
# treats as "this host".
out['own'] = {a: attempt(lambda: tcp(socket.AF_INET, (a, ${portOf(v4)}))) for a in ${JSON.stringify(hostAddresses())}}
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b'x', ('127.0.0.1', ${portOf(v4)}))
    finally:
        s.close()
out['udp4'] = attempt(udp)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, string>;
    expect(r.tcp4).toBe('ENETUNREACH');
    expect(['ENETUNREACH', 'EADDRNOTAVAIL']).toContain(r.tcp6);
    expect(r.udp4).toBe('ENETUNREACH');
    for (const [a, v] of Object.entries(r.own as unknown as Record<string, string>)) expect(v, a).toBe('ENETUNREACH');
    expect(totalConnections()).toBe(0);
  });

  it('javascript cannot connect to the host loopback', async () => {
    const { outcome } = await s.run(
      'javascript',
      `const net = require('net');
const s = net.connect({ host: '127.0.0.1', port: ${portOf(v4)} });
s.on('connect', () => { console.log(JSON.stringify({ result: 'connected' })); s.destroy(); });
s.on('error', (e) => console.log(JSON.stringify({ result: e.code })));
`,
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome)).toEqual({ result: 'ENETUNREACH' });
    expect(totalConnections()).toBe(0);
  });

  // Unix sockets: an abstract socket (bound to the network namespace, no file) and a socket file
  // under the host's /tmp (daemons such as docker or the database listen like that).
  it('cannot reach host unix sockets, abstract or on disk', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import socket
def unix(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(addr)
    finally:
        s.close()
out['abstract'] = attempt(lambda: unix('\\0${abstractName}'))
out['file'] = attempt(lambda: unix(${JSON.stringify(path.join(sockDir, 'api.sock'))}))
out['docker'] = attempt(lambda: unix('/var/run/docker.sock'))
out['systemd'] = attempt(lambda: unix('/run/systemd/private'))
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome)).toEqual({ abstract: 'ECONNREFUSED', file: 'ENOENT', docker: 'ENOENT', systemd: 'ENOENT' });
    expect(abstract, 'the host supports abstract sockets, so the probe meant something').not.toBeNull();
    expect(totalConnections()).toBe(0);
  });

  // What the program can see of the network: only a loopback interface (down), no routes, none of
  // the host's sockets (our listening port is not in /proc/net/tcp), no /sys/class/net.
  it('sees only a loopback that is down, no routes and none of the host sockets', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import fcntl, socket, struct
out['ifaces'] = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:])
out['routes'] = open('/proc/net/route').read().splitlines()[1:]
# Reject routes (RTF_REJECT, 0x200: the kernel's built-in "unreachable" entries) lead nowhere.
out['routes6'] = [l for l in open('/proc/net/ipv6_route').read().splitlines() if l.strip() and not int(l.split()[8], 16) & 0x200]
out['tcp_ports'] = sorted(set(int(l.split()[1].split(':')[1], 16) for l in open('/proc/net/tcp').read().splitlines()[1:]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack('H', fcntl.ioctl(s.fileno(), 0x8913, struct.pack('16sH', b'lo', 0) + b'\\0' * 22)[16:18])[0]
out['lo_up'] = bool(flags & 1)
out['sys_class_net'] = attempt(lambda: os.listdir('/sys/class/net') and None)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.ifaces).toEqual(['lo']);
    expect(r.routes).toEqual([]);
    expect(r.routes6).toEqual([]);
    expect(r.tcp_ports).not.toContain(portOf(v4));
    expect(r.tcp_ports).toEqual([]);
    expect(r.lo_up).toBe(false);
    expect(r.sys_class_net).toBe('ENOENT');
  });
});
