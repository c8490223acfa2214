import type { KeyQuotas } from '../../src/keys/api-key.js';
import type { KeyStore } from '../../src/keys/key-store.js';
import { createKey, type CreatedKey } from '../../src/keys/keys.js';

// Keys for tests, made through the same use case as `codexec keys create`.

export const NO_QUOTAS: KeyQuotas = { runsPerMinute: null, executionsInFlight: null, sessions: null };

export function addKey(store: KeyStore | undefined, quotas: Partial<KeyQuotas> = {}, name = 'test'): Promise<CreatedKey> {
  if (!store) throw new Error('this harness has no key store (CODEXEC_AUTH=keys opens one)');
  return createKey(store, { name, quotas: { ...NO_QUOTAS, ...quotas } });
}

export function bearer(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
}
