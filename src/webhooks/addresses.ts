import net from 'node:net';

// Which IP addresses a webhook may never reach unless the operator allows them: this host
// (loopback, 0.0.0.0), private and shared networks, link-local (where cloud metadata services
// answer: 169.254.169.254, fd00:ec2::254 is unique-local), multicast, and reserved or
// documentation ranges. Addresses are compared as numbers, so every textual trick that names the
// same address (2130706433, 0x7f.1, ::ffff:127.0.0.1, ::ffff:7f00:1) is the same address here;
// the WHATWG URL parser has already turned the numeric IPv4 forms into dotted quads. An IPv6
// address that carries an IPv4 one (v4-mapped, NAT64, 6to4) is judged by the IPv4 address it reaches.

export interface Addr {
  family: 4 | 6;
  /** 32 bits for IPv4, 128 for IPv6. */
  value: bigint;
}

interface Range {
  base: Addr;
  prefix: number;
  name: string;
}

export function parseAddr(text: string): Addr | null {
  const s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = net.isIP(s);
  if (family === 4) return { family: 4, value: v4Value(s) };
  if (family === 6) return { family: 6, value: v6Value(s) };
  return null;
}

function v4Value(s: string): bigint {
  return s.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function v6Value(s: string): bigint {
  let text = s.split('%')[0]!;
  // A dotted IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v = v4Value(dotted[1]!);
    text = `${text.slice(0, -dotted[1]!.length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const groups = (g: string | undefined) => (g ? g.split(':') : []);
  const h = groups(head);
  const t = tail === null ? [] : groups(tail);
  const all = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatAddr(a: Addr): string {
  if (a.family === 4) return [24n, 16n, 8n, 0n].map((sh) => String((a.value >> sh) & 0xffn)).join('.');
  const groups = [];
  for (let i = 7; i >= 0; i--) groups.push(((a.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function range(cidr: string, name: string): Range {
  const [addr, prefix] = cidr.split('/');
  return { base: parseAddr(addr!)!, prefix: Number(prefix), name };
}

export function inRange(a: Addr, r: { base: Addr; prefix: number }): boolean {
  if (a.family !== r.base.family) return false;
  const bits = a.family === 4 ? 32n : 128n;
  const shift = bits - BigInt(r.prefix);
  return a.value >> shift === r.base.value >> shift;
}

/** Refused IPv4 ranges, most specific first (the first match names the reason). */
const V4: Range[] = [
  range('0.0.0.0/8', 'this network (reaches this host)'),
  range('10.0.0.0/8', 'private network'),
  range('100.64.0.0/10', 'shared address space (carrier-grade NAT, some cloud metadata)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.169.254/32', 'cloud metadata service'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private network'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', '6to4 relay'),
  range('192.168.0.0/16', 'private network'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved (and broadcast)'),
];

const V6: Range[] = [
  range('::/128', 'unspecified (reaches this host)'),
  range('::1/128', 'loopback'),
  range('::/96', 'IPv4-compatible (deprecated)'),
  range('64:ff9b:1::/48', 'local-use NAT64'),
  range('100::/64', 'discard-only'),
  range('2001::/32', 'Teredo tunnel'),
  range('2001:db8::/32', 'documentation'),
  range('fd00:ec2::254/128', 'cloud metadata service'),
  range('fc00::/7', 'unique-local'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local (deprecated)'),
  range('ff00::/8', 'multicast'),
];

const MAPPED = range('::ffff:0:0/96', '');
const NAT64 = range('64:ff9b::/96', '');
const SIX_TO_FOUR = range('2002::/16', '');

/** The IPv4 address an IPv6 one reaches (v4-mapped, NAT64, 6to4), or null. */
export function embeddedV4(a: Addr): Addr | null {
  if (a.family !== 6) return null;
  if (inRange(a, MAPPED) || inRange(a, NAT64)) return { family: 4, value: a.value & 0xffffffffn };
  if (inRange(a, SIX_TO_FOUR)) return { family: 4, value: (a.value >> 80n) & 0xffffffffn };
  return null;
}

/** Why a webhook may not reach `a` (a refused range), or null when it is a public address. */
export function refusedRange(a: Addr): string | null {
  const v4 = embeddedV4(a);
  if (v4) {
    const why = refusedRange(v4);
    return why === null ? null : `${why} (${formatAddr(v4)} inside ${formatAddr(a)})`;
  }
  for (const r of a.family === 4 ? V4 : V6) if (inRange(a, r)) return r.name;
  return null;
}
