import { createHmac, timingSafeEqual } from 'node:crypto';

// Webhook signatures: X-Codexec-Timestamp is the attempt's time in Unix seconds, and
// X-Codexec-Signature is "v1=" and the hex HMAC-SHA256, keyed with CODEXEC_WEBHOOK_SECRET, of
// "<timestamp>.<body>". A receiver recomputes it over the raw body, compares in constant time, and
// refuses a timestamp too far from its clock (a replayed request).

export const SIGNATURE_HEADER = 'x-codexec-signature';
export const TIMESTAMP_HEADER = 'x-codexec-timestamp';
/** What receivers should accept at most between the timestamp and their clock. */
export const DEFAULT_TOLERANCE_S = 300;

export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (and the tests): true when the signature matches and the timestamp is recent. */
export function verifySignature(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = DEFAULT_TOLERANCE_S,
): boolean {
  const ts = Number(headers.timestamp);
  if (!headers.signature || !Number.isSafeInteger(ts) || Math.abs(nowS - ts) > toleranceS) return false;
  const want = Buffer.from(signature(secret, ts, body));
  const got = Buffer.from(headers.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The config parser of CODEXEC_WEBHOOK_SECRET: empty (webhooks off) or at least 16 characters. */
export const secretParser = Object.assign(
  (raw: string): string => {
    if (raw !== '' && raw.length < 16) throw new Error(`a webhook secret must be at least 16 characters (got ${raw.length})`);
    return raw;
  },
  { accepts: 'empty, or at least 16 characters (e.g. `openssl rand -hex 32`)' },
);
