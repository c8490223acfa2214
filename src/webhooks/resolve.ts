import dns from 'node:dns';
import { formatAddr, parseAddr, refusedRange, type Addr } from './addresses.js';
import { isAllowed, type AllowList } from './allow-list.js';

// Where a webhook attempt connects: the URL's host resolved once, every address it resolves to
// checked (one refused address refuses the host: a name must not mix a public address with a
// private one), and the first one returned. The connection then goes to that address and no
// other (deliver.ts hands it to the socket instead of letting it resolve again), so a DNS answer
// that changes between the check and the connect (DNS rebinding) cannot redirect it.

export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: Lookup = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export interface Target {
  address: string;
  family: 4 | 6;
}

/** The host's address may not be reached: never retried. */
export class AddressRefusedError extends Error {
  constructor(
    readonly address: string,
    readonly range: string,
  ) {
    super(`${address} is ${range}; not allowed by CODEXEC_WEBHOOK_ALLOW`);
  }
}

export async function resolveTarget(url: URL, allow: AllowList, lookup: Lookup): Promise<Target> {
  const literal = parseAddr(url.hostname);
  const byName = literal === null && isAllowed(allow, url.hostname, null);
  const found: Addr[] = literal
    ? [literal]
    : (await lookup(url.hostname.replace(/\.$/, ''))).map((r) => parseAddr(r.address)).filter((a): a is Addr => a !== null);
  if (found.length === 0) throw new Error(`${url.hostname} has no address`);
  if (!byName) {
    for (const a of found) {
      const range = refusedRange(a);
      if (range !== null && !isAllowed(allow, null, a)) throw new AddressRefusedError(formatAddr(a), range);
    }
  }
  return { address: formatAddr(found[0]!), family: found[0]!.family };
}
