import { KEY_PATTERN, hashSecret, type ApiKey } from './api-key.js';
import type { KeyStore } from './key-store.js';

// Who a bearer key is, cheaply enough for every request. A key found in the store is trusted for
// `cacheMs` (CODEXEC_AUTH_CACHE_MS) from the moment its lookup started: a revocation, written to
// the shared database by `codexec keys revoke`, stops the key on every node within that time.
// A secret that names no key is remembered as unknown for as long (a fresh key cannot be
// remembered so: nobody can present its secret before it exists), so a client that repeats a bad
// key does not reach the database each time. Both caches are bounded, oldest entries first out;
// lookups of one secret that overlap share one query.
//
// last_used_at is written at most once per TOUCH_INTERVAL_MS per key and node, in the background
// (the statement itself skips the write when another node wrote it within the interval).

export const TOUCH_INTERVAL_MS = 60_000;
const MAX_CACHED = 10_000;

export type Authentication = { kind: 'ok'; key: ApiKey } | { kind: 'invalid' } | { kind: 'revoked' };

interface Cached {
  key: ApiKey | null;
  until: number;
}

export class KeyAuthenticator {
  private readonly known = new Map<string, Cached>();
  private readonly unknown = new Map<string, Cached>();
  private readonly lookups = new Map<string, Promise<ApiKey | null>>();
  private readonly touching = new Set<string>();

  constructor(
    private readonly store: KeyStore,
    private readonly opts: { cacheMs: number; onTouchError?: (err: unknown) => void; clock?: () => number },
  ) {}

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  async authenticate(secret: string): Promise<Authentication> {
    if (!KEY_PATTERN.test(secret)) return { kind: 'invalid' };
    const hash = hashSecret(secret);
    const now = this.now();
    const cached = this.known.get(hash) ?? this.unknown.get(hash);
    const key = cached && cached.until > now ? cached.key : await this.lookup(hash, now);
    if (key === null) return { kind: 'invalid' };
    if (key.revokedAt !== null) return { kind: 'revoked' };
    this.touch(hash, key, now);
    return { kind: 'ok', key };
  }

  private lookup(hash: string, startedAt: number): Promise<ApiKey | null> {
    const pending = this.lookups.get(hash);
    if (pending) return pending;
    const p = this.store.getBySecretHash(hash).then((key) => {
      if (this.opts.cacheMs > 0) remember(key ? this.known : this.unknown, hash, { key, until: startedAt + this.opts.cacheMs });
      return key;
    });
    this.lookups.set(hash, p);
    const done = () => this.lookups.delete(hash);
    p.then(done, done);
    return p;
  }

  private touch(hash: string, key: ApiKey, now: number): void {
    if ((key.lastUsedAt !== null && now - key.lastUsedAt < TOUCH_INTERVAL_MS) || this.touching.has(key.id)) return;
    this.touching.add(key.id);
    // The cached record says it was used now, so this node does not write again for a while.
    const cached = this.known.get(hash);
    if (cached?.key) cached.key = { ...cached.key, lastUsedAt: now };
    this.store
      .touch(key.id, now, TOUCH_INTERVAL_MS)
      .catch((err: unknown) => this.opts.onTouchError?.(err))
      .finally(() => this.touching.delete(key.id));
  }
}

function remember(map: Map<string, Cached>, hash: string, entry: Cached): void {
  map.delete(hash);
  map.set(hash, entry);
  if (map.size > MAX_CACHED) map.delete(map.keys().next().value as string);
}
