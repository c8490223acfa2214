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
