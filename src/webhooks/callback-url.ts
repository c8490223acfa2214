import { CallbackUrlRefusedError, InvalidCallbackUrlError, WebhooksDisabledError } from '../domain/errors.js';
import { formatAddr, parseAddr, refusedRange } from './addresses.js';
import { isAllowed, parseAllowList, type AllowList } from './allow-list.js';

// A run's callback_url, checked when the run is submitted: an absolute http(s) URL without
// credentials, and, when its host is an IP address (in any notation the URL parser accepts), one
// webhooks may reach. A host name is not resolved here (no DNS in the request path): the
// dispatcher resolves it once per attempt and refuses the same addresses (resolve.ts).

export const MAX_CALLBACK_URL_LENGTH = 2048;

const LOOPBACK_V4 = parseAddr('127.0.0.1')!;

// The frozen config array -> its parsed list, parsed once.
const parsed = new WeakMap<readonly string[], AllowList>();

export function allowListOf(entries: readonly string[]): AllowList {
  let list = parsed.get(entries);
  if (!list) parsed.set(entries, (list = parseAllowList(entries)));
  return list;
}

/** Checks a callback URL; returns it as stored (the URL parser's normal form). */
export function checkCallbackUrl(raw: string, config: { webhookSecret: string; webhookAllow: readonly string[] }): string {
  if (config.webhookSecret === '') throw new WebhooksDisabledError();
  if (raw.length > MAX_CALLBACK_URL_LENGTH) throw new InvalidCallbackUrlError(`longer than ${MAX_CALLBACK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidCallbackUrlError('not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidCallbackUrlError(`the scheme must be http or https, not ${url.protocol.slice(0, 20)}`);
  if (url.username !== '' || url.password !== '') throw new InvalidCallbackUrlError('a user name or password in the URL is not allowed (sign with CODEXEC_WEBHOOK_SECRET instead)');
  const allow = allowListOf(config.webhookAllow);
  const addr = parseAddr(url.hostname);
  // localhost names this host whatever DNS says (RFC 6761).
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const target = addr ?? (host === 'localhost' || host.endsWith('.localhost') ? LOOPBACK_V4 : null);
  if (target) {
    const range = refusedRange(target);
    if (range !== null && !isAllowed(allow, addr ? null : url.hostname, target)) throw new CallbackUrlRefusedError(addr ? formatAddr(target) : url.hostname, range);
  }
  if (url.href.length > MAX_CALLBACK_URL_LENGTH) throw new InvalidCallbackUrlError(`longer than ${MAX_CALLBACK_URL_LENGTH} characters`);
  return url.href;
}
