// A live coding session: the learner's current code, autosaved many times a second.

export const SESSION_STATUSES = ['ACTIVE', 'CLOSED', 'EXPIRED'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** What the store keeps. The status is not stored: CLOSED is `closedAt`, EXPIRED is derived. */
export interface StoredSession {
  id: string;
  language: string;
  sourceCode: string;
  /** Starts at 0; +1 per accepted autosave, or the client's own (strictly increasing) revision. */
  revision: number;
  createdAt: number; // epoch ms
  updatedAt: number; // last accepted autosave (or creation)
  lastRunAt: number | null;
  closedAt: number | null;
  /** The API key that created it (CODEXEC_AUTH=keys), or null: only that key sees it. */
  owner: string | null;
}

export interface Session extends StoredSession {
  status: SessionStatus;
}

/** Last time the learner did something with the session: an autosave or a run. */
export function lastActivityAt(s: StoredSession): number {
  return Math.max(s.updatedAt, s.lastRunAt ?? 0);
}

/** CLOSED once closed; EXPIRED when idle for longer than `idleTtlMs`; ACTIVE otherwise. */
export function sessionStatus(s: StoredSession, idleTtlMs: number, now: number): SessionStatus {
  if (s.closedAt !== null) return 'CLOSED';
  if (lastActivityAt(s) + idleTtlMs < now) return 'EXPIRED';
  return 'ACTIVE';
}

/**
 * Whether `viewer` may see (and use) session `s`: a viewer of null (no authentication) sees every
 * session; an API key sees only its own. Another key's session is "not found", never "forbidden":
 * its existence is not told.
 */
export function visibleTo(s: { owner: string | null }, viewer: string | null | undefined): boolean {
  return viewer === null || viewer === undefined || s.owner === viewer;
}
