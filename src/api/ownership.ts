import type { FastifyRequest } from 'fastify';
import { NotFoundError } from '../domain/errors.js';
import type { RunSubmission, SessionRuns } from '../executions/submit.js';
import { visibleTo, type Session } from '../sessions/session.js';

// What an API key may see and use: the sessions and executions it created, and nothing else.
// Another key's session or execution is answered 404 (never 403: its existence is not told) on
// every route that takes an id. Without authentication (CODEXEC_AUTH=none) the owner is null and
// everything is everyone's, as before keys existed.

/** Who the request acts as: its API key's id, or null without authentication. */
export function ownerOf(req: FastifyRequest): string | null {
  return req.apiKey?.id ?? null;
}

/** Whether the request may see this session or execution. */
export function canSee(req: FastifyRequest, thing: { owner: string | null }): boolean {
  return visibleTo(thing, ownerOf(req));
}

/** What a run submitted by this request carries from its key: the owner and its in-flight quota. */
export function keyFields(req: FastifyRequest): Pick<RunSubmission, 'owner' | 'maxInFlightPerOwner'> {
  return { owner: ownerOf(req), maxInFlightPerOwner: req.apiKey?.quotas.executionsInFlight ?? undefined };
}

/**
 * The session store's run path as this request may use it: a session of another key is not
 * found. Checked on the session as read under the run's lock, or as read before the one-statement
 * run (the owner never changes).
 */
export function ownedSessionRuns(sessions: SessionRuns, req: FastifyRequest): SessionRuns {
  const owner = ownerOf(req);
  if (owner === null) return sessions;
  /** The session, when this request's key owns it. */
  const own = (session: Session, id: string): Session => {
    if (!visibleTo(session, owner)) throw new NotFoundError('session', id);
    return session;
  };
  const oneStatement = sessions.runInOneStatement?.bind(sessions);
  return {
    runInOneStatement: oneStatement ? (id, job, now) => oneStatement(id, (session) => job(own(session, id)), now) : undefined,
    submitRun: (id, decide, now) => sessions.submitRun(id, async (session) => decide(own(session, id)), now),
  };
}
