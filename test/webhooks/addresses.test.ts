import { describe, expect, it } from 'vitest';
import { CodexecError } from '../../src/domain/errors.js';
import { parseAddr, refusedRange } from '../../src/webhooks/addresses.js';
import { allowListParser, isAllowed, parseAllowList } from '../../src/webhooks/allow-list.js';
import { checkCallbackUrl } from '../../src/webhooks/callback-url.js';
import { AddressRefusedError, resolveTarget, type Lookup } from '../../src/webhooks/resolve.js';

// The SSRF guard, without sending anything anywhere: which addresses a webhook may never reach,
// in every notation that names them; the operator's allow list; the callback URL check at submit;
// and resolution at delivery (one lookup, every answer checked, the checked address used).

const config = (allow: string[] = []) => ({ webhookSecret: 's'.repeat(16), webhookAllow: Object.freeze(allow) });

function refusal(fn: () => unknown): CodexecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CodexecError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('refused addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['0.0.0.0', 'this network (reaches this host)'],
    ['10.0.0.1', 'private network'],
    ['172.16.5.4', 'private network'],
    ['192.168.1.1', 'private network'],
    ['100.100.100.200', 'shared address space (carrier-grade NAT, some cloud metadata)'],
    ['169.254.169.254', 'cloud metadata service'],
    ['169.254.1.1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved (and broadcast)'],
    ['::1', 'loopback'],
    ['::', 'unspecified (reaches this host)'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'cloud metadata service'],
    ['fc12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback (127.0.0.1 inside ::ffff:7f00:1)'],
    ['::ffff:7f00:1', 'loopback (127.0.0.1 inside ::ffff:7f00:1)'],
    ['::ffff:a9fe:a9fe', 'cloud metadata service (169.254.169.254 inside ::ffff:a9fe:a9fe)'],
    ['64:ff9b::a00:1', 'private network (10.0.0.1 inside 64:ff9b::a00:1)'],
    ['2002:7f00:1::', 'loopback (127.0.0.1 inside 2002:7f00:1::)'],
  ])('%s is %s', (text, why) => {
    expect(refusedRange(parseAddr(text)!)).toBe(why);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('%s is public', (text) => {
    expect(refusedRange(parseAddr(text)!)).toBeNull();
  });
});

describe('the allow list (CODEXEC_WEBHOOK_ALLOW)', () => {
  it('takes CIDRs, addresses and host names, and refuses anything else', () => {
    expect(allowListParser('127.0.0.1/32, 10.1.0.0/16 fd00::/8 ::1,grader.internal')).toEqual(['127.0.0.1/32', '10.1.0.0/16', 'fd00::/8', '::1', 'grader.internal']);
    for (const bad of ['10.0.0.0/33', '::1/129', 'http://x', 'a b/c', '10.0.0.0/8/1', '-bad-.host']) expect(() => allowListParser(bad), bad).toThrow();
  });

  it('allows an address in a CIDR (also v4-mapped), or any address of an allowed host name', () => {
    const list = parseAllowList(['127.0.0.1/32', 'grader.internal', '10.9.0.0/16']);
    expect(isAllowed(list, null, parseAddr('127.0.0.1'))).toBe(true);
    expect(isAllowed(list, null, parseAddr('::ffff:127.0.0.1'))).toBe(true);
    expect(isAllowed(list, null, parseAddr('127.0.0.2'))).toBe(false);
    expect(isAllowed(list, 'Grader.Internal.', parseAddr('10.0.0.1'))).toBe(true);
    expect(isAllowed(list, null, parseAddr('10.9.200.1'))).toBe(true);
    expect(isAllowed(list, 'other.internal', parseAddr('10.0.0.1'))).toBe(false);
  });
});

describe('callback_url at submit', () => {
  it.each([
    ['http://127.0.0.1/hook', '127.0.0.1'],
    ['http://10.0.0.1/hook', '10.0.0.1'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['http://[::1]:8080/hook', '::1'],
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['http://[::ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe'],
    ['http://0.0.0.0:9000/', '0.0.0.0'],
    ['http://localhost:3000/', 'localhost'],
    ['http://api.localhost/', 'api.localhost'],
  ])('refuses %s without the allow list', (url, address) => {
    const err = refusal(() => checkCallbackUrl(url, config()));
    expect(err.code).toBe('callback_url_refused');
    expect(err.statusCode).toBe(422);
    expect(err.details?.address).toBe(address);
  });

  it('refuses what is not an http(s) URL, or carries credentials; needs a secret', () => {
    for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'example.com/hook', 'gopher://x/', `https://example.com/${'a'.repeat(2100)}`]) {
      expect(refusal(() => checkCallbackUrl(url, config())).code, url).toBe('invalid_callback_url');
    }
    expect(refusal(() => checkCallbackUrl('https://user:pw@example.com/', config())).code).toBe('invalid_callback_url');
    expect(refusal(() => checkCallbackUrl('https://example.com/', { webhookSecret: '', webhookAllow: [] })).code).toBe('webhooks_disabled');
  });

  it('takes a public or a host-named URL, and what the allow list allows', () => {
    expect(checkCallbackUrl('https://example.com/hook?x=1', config())).toBe('https://example.com/hook?x=1');
    expect(checkCallbackUrl('http://127.0.0.1:8080/hook', config(['127.0.0.1/32']))).toBe('http://127.0.0.1:8080/hook');
    expect(checkCallbackUrl('http://localhost:8080/hook', config(['127.0.0.1']))).toBe('http://localhost:8080/hook');
    expect(checkCallbackUrl('http://[::1]/', config(['::1']))).toBe('http://[::1]/');
  });
});

describe('resolving a webhook host at delivery', () => {
  const lookupOf = (answers: string[][]): Lookup & { calls: number } => {
    const l = Object.assign(
      async (_host: string) => {
        const a = answers[Math.min(l.calls, answers.length - 1)]!;
        l.calls++;
        return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      },
      { calls: 0 },
    );
    return l;
  };

  it.each([['127.0.0.1'], ['10.0.0.1'], ['169.254.169.254'], ['::1'], ['::ffff:169.254.169.254']])('refuses a name that resolves to %s', async (address) => {
    const err = await resolveTarget(new URL('http://hook.example/'), parseAllowList([]), lookupOf([[address]])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressRefusedError);
  });

  it('refuses a name with one private address among public ones', async () => {
    const err = await resolveTarget(new URL('http://hook.example/'), parseAllowList([]), lookupOf([['93.184.216.34', '10.0.0.1']])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressRefusedError);
  });

  it('resolves once and returns the checked address (a second answer, rebinding to loopback, is never asked for)', async () => {
    const lookup = lookupOf([['93.184.216.34'], ['127.0.0.1']]);
    expect(await resolveTarget(new URL('http://hook.example/'), parseAllowList([]), lookup)).toEqual({ address: '93.184.216.34', family: 4 });
    expect(lookup.calls).toBe(1);
  });

  it('an allowed host name may resolve to a private address; a literal is never looked up', async () => {
    expect(await resolveTarget(new URL('http://grader.internal/'), parseAllowList(['grader.internal']), lookupOf([['10.0.0.7']]))).toEqual({ address: '10.0.0.7', family: 4 });
    const never = lookupOf([['8.8.8.8']]);
    expect(await resolveTarget(new URL('http://127.0.0.1:1/'), parseAllowList(['127.0.0.1']), never)).toEqual({ address: '127.0.0.1', family: 4 });
    expect(never.calls).toBe(0);
  });
});
