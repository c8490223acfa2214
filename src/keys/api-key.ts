import crypto, { randomBytes } from 'node:crypto';

// API keys (CODEXEC_AUTH=keys): what a key is, how its secret is made, and how it is stored.
//
// A key's secret is `cdx_` and 43 characters of [A-Za-z0-9] drawn from the system CSPRNG: 256
// bits (43 × log2 62). The `cdx_` prefix makes a leaked key recognisable (secret scanners, logs);
// letters and digits only, so a double-click selects the whole key. codexec stores only the
// SHA-256 of the secret and its first 12 characters (`cdx_` + 8, for people to recognise it).
//
// Why SHA-256 and not bcrypt/scrypt: slow, salted hashes protect low-entropy secrets (passwords)
// against guessing after a database leak. A 256-bit random secret cannot be guessed whatever the
// hash costs, so a slow hash would only add its cost (tens of ms of CPU) to every request that is
// not cached, and its salt would forbid finding the key by its hash with one indexed lookup. The
// lookup compares hashes, not secrets: its timing says nothing useful about a secret.

export const KEY_PREFIX = 'cdx_';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_CHARS = 43;
/** What `codexec keys create` prints; anything else is refused without a database lookup. */
export const KEY_PATTERN = /^cdx_[A-Za-z0-9]{43}$/;
/** Characters of the secret kept in clear for recognition: `cdx_` and 8 more (48 of the 256 bits). */
export const DISPLAY_PREFIX_CHARS = 12;

/** A key's own limits; null: none of its own (the server-wide limits still apply to it). */
export interface KeyQuotas {
  runsPerMinute: number | null;
  executionsInFlight: number | null;
  /** Sessions open (ACTIVE) at once. */
  sessions: number | null;
}

/** A key as stored, without its secret. */
export interface ApiKey {
  /** `key_` and 12 hex digits: the owner of its sessions and executions, and its metrics label. */
  id: string;
  name: string;
  /** The secret's first DISPLAY_PREFIX_CHARS characters. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  quotas: KeyQuotas;
}

/** A new secret: `cdx_` + 43 characters of [A-Za-z0-9], uniformly (rejection sampling). */
export function generateSecret(): string {
  let out = KEY_PREFIX;
  while (out.length < KEY_PREFIX.length + SECRET_CHARS) {
    for (const b of randomBytes(64)) {
      // 248 = 4 × 62: bytes above it would make the first characters of the alphabet likelier.
      if (b < 248 && out.length < KEY_PREFIX.length + SECRET_CHARS) out += ALPHABET[b % 62];
    }
  }
  return out;
}

/**
 * What the database holds instead of the secret (hex SHA-256). Every request that sends a key
 * hashes it: crypto.hash (Node >= 20.12) does it in one call without a Hash object, measured at
 * 1 µs against 2.5 to 13 µs for createHash; older Node 20 releases use createHash.
 */
export function hashSecret(secret: string): string {
  if (typeof crypto.hash === 'function') return crypto.hash('sha256', secret, 'hex');
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function newKeyId(): string {
  return `key_${randomBytes(6).toString('hex')}`;
}

export function displayPrefix(secret: string): string {
  return secret.slice(0, DISPLAY_PREFIX_CHARS);
}

/**
 * CODEXEC_API_KEY's parser. Its message never repeats the value: a mistyped key is still a
 * credential, and startup errors are printed and logged.
 */
export const apiKeyParser = Object.assign(
  (raw: string): string => {
    const key = raw.trim();
    if (key !== '' && !KEY_PATTERN.test(key)) throw new Error(`expected a key as \`codexec keys create\` prints it (${KEY_PREFIX} and 43 letters or digits; got ${key.length} characters)`);
    return key;
  },
  { accepts: `empty, or a key as \`codexec keys create\` prints it (${KEY_PREFIX}...)` },
);
