import type { Parser } from '../config/parsers.js';
import { embeddedV4, inRange, parseAddr, type Addr } from './addresses.js';

// CODEXEC_WEBHOOK_ALLOW: what webhooks may reach although addresses.ts refuses it, for receivers
// on the operator's own network: CIDRs (10.1.0.0/16, fd12::/64), addresses (10.1.2.3, ::1) and
// host names (grader.internal, matched as written in the URL, case-insensitively, whatever they
// resolve to).

export interface AllowList {
  readonly ranges: readonly { base: Addr; prefix: number }[];
  readonly hosts: ReadonlySet<string>;
}

const HOST = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A host name as compared: lower case, without the root's trailing dot. */
export function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** One entry of the list; throws with the reason when it is none of a CIDR, an address or a host name. */
function parseEntry(raw: string): { base: Addr; prefix: number } | string {
  const [addr, prefix, extra] = raw.split('/');
  const a = parseAddr(addr!);
  if (a) {
    const bits = a.family === 4 ? 32 : 128;
    if (extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw new Error(`${JSON.stringify(raw)} is not a CIDR`);
    const p = prefix === undefined ? bits : Number(prefix);
    if (p > bits) throw new Error(`${JSON.stringify(raw)}: a /${p} prefix is longer than the address`);
    return { base: a, prefix: p };
  }
  const host = normalHost(raw);
  if (prefix !== undefined || !HOST.test(host)) throw new Error(`${JSON.stringify(raw)} is not a CIDR, an IP address or a host name`);
  return host;
}

export function parseAllowList(entries: readonly string[]): AllowList {
  const ranges: { base: Addr; prefix: number }[] = [];
  const hosts = new Set<string>();
  for (const e of entries) {
    const parsed = parseEntry(e);
    if (typeof parsed === 'string') hosts.add(parsed);
    else ranges.push(parsed);
  }
  return { ranges, hosts };
}

/** The config parser: a comma- or space-separated list, each entry checked. */
export const allowListParser: Parser<readonly string[]> = Object.assign(
  (raw: string): readonly string[] => {
    const entries = raw.split(/[\s,]+/).filter((e) => e !== '');
    parseAllowList(entries);
    return Object.freeze(entries);
  },
  { accepts: 'comma-separated CIDRs (10.0.0.0/8, fd00::/8), IP addresses and host names' },
);

/** Whether the operator allows a webhook to `address`, or to any address of host `host`. */
export function isAllowed(list: AllowList, host: string | null, address: Addr | null): boolean {
  if (host !== null && list.hosts.has(normalHost(host))) return true;
  if (!address) return false;
  const v4 = embeddedV4(address);
  return list.ranges.some((r) => inRange(address, r) || (v4 !== null && inRange(v4, r)));
}
