import { CodexecError } from '../domain/errors.js';
import { DISPLAY_PREFIX_CHARS, KEY_PATTERN, KEY_PREFIX, displayPrefix, generateSecret, hashSecret, newKeyId, type ApiKey, type KeyQuotas } from './api-key.js';
import type { KeyStore } from './key-store.js';

// The operator's use cases of API keys (`codexec keys create | list | revoke`): the rules live
// here, the SQL in the store of each dialect. There is no HTTP route for them: no key can make or
// revoke keys; whoever can reach the job database can.

const MAX_NAME_CHARS = 100;
// Printable, without control characters: a name is shown in tables and logs.
const NAME = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u;

export interface CreatedKey {
  key: ApiKey;
  /** The secret, shown once: the database keeps only its hash. */
  secret: string;
}

/** A usage error of `codexec keys` (exit status 2). */
function invalid(message: string): CodexecError {
  return new CodexecError('invalid_flag', 2, message);
}

export async function createKey(store: KeyStore, input: { name: string; quotas: KeyQuotas }, now = Date.now()): Promise<CreatedKey> {
  const name = input.name.trim();
  if (name === '' || name.length > MAX_NAME_CHARS || !NAME.test(name)) throw invalid(`--name: 1 to ${MAX_NAME_CHARS} printable characters`);
  for (const [what, n] of Object.entries(input.quotas)) {
    if (n !== null && (!Number.isSafeInteger(n) || n < 1)) throw invalid(`${what}: a quota is a whole number of at least 1 (or none)`);
  }
  const secret = generateSecret();
  const key = await store.insert({ id: newKeyId(), name, prefix: displayPrefix(secret), secretHash: hashSecret(secret), createdAt: now, quotas: input.quotas });
  return { key, secret };
}

/**
 * The key `ref` names: its id (`key_...`), its display prefix (`cdx_` + 8, as `keys list` shows
 * it), or the whole secret. A prefix that two keys share is refused: give the id.
 */
export async function findKey(store: KeyStore, ref: string): Promise<ApiKey> {
  const r = ref.trim();
  let found: ApiKey[] = [];
  if (r.startsWith('key_')) {
    const key = await store.getById(r);
    found = key ? [key] : [];
  } else if (KEY_PATTERN.test(r)) {
    const key = await store.getBySecretHash(hashSecret(r));
    found = key ? [key] : [];
  } else if (r.startsWith(KEY_PREFIX) && r.length === DISPLAY_PREFIX_CHARS) {
    found = await store.listByPrefix(r);
  }
  if (found.length > 1) throw invalid(`${r} is the prefix of ${found.length} keys (${found.map((k) => k.id).join(', ')}): give the id`);
  const key = found[0];
  if (!key) {
    throw new CodexecError('api_key_not_found', 404, `no API key has the id or prefix ${JSON.stringify(r.slice(0, 40))} (\`codexec keys list\` shows them: an id is key_ and 12 hex digits, a prefix ${KEY_PREFIX} and 8 characters)`);
  }
  return key;
}

/** Revokes the key `ref` names (idempotent: a revoked key keeps its first revocation time). */
export async function revokeKey(store: KeyStore, ref: string, now = Date.now()): Promise<ApiKey> {
  const key = await findKey(store, ref);
  const revoked = await store.revoke(key.id, now);
  if (!revoked) throw new CodexecError('api_key_not_found', 404, `API key ${key.id} no longer exists`);
  return revoked;
}
